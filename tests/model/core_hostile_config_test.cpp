// Hostile config.json (issue 15): every size is bounded when it is read, and the sizes
// together must fit in the weight files beside the config — one-line errors naming the file
// and key, before anything is sized from them.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "model/config.h"
#include "tests/error_of.h"

namespace fs = std::filesystem;
using csweep::testing::error_of;
using namespace csweep::model;

namespace {

const fs::path kFixture = CSWEEP_SOURCE_DIR "/../shared/fixtures/gpt2-tiny";

nlohmann::json fixture_config() {
  std::ifstream in(kFixture / "config.json");
  return nlohmann::json::parse(in);
}

nlohmann::json llama_config() {
  return {{"architectures", {"LlamaForCausalLM"}},
          {"num_hidden_layers", 2},
          {"hidden_size", 64},
          {"num_attention_heads", 4},
          {"num_key_value_heads", 2},
          {"intermediate_size", 128},
          {"vocab_size", 100}};
}

// The fixture's weights beside CONFIG in a fresh folder.
fs::path folder_with(const std::string& name, const nlohmann::json& config) {
  const fs::path d = fs::path(CSWEEP_BINARY_DIR) / "test-tmp" / "hostile-config" / name;
  fs::remove_all(d);
  fs::create_directories(d);
  fs::copy_file(kFixture / "model.safetensors", d / "model.safetensors");
  fs::permissions(d / "model.safetensors", fs::perms::owner_write, fs::perm_options::add);
  std::ofstream(d / "config.json") << config.dump();
  return d;
}

}  // namespace

TEST(HostileConfig, AbsurdSizesAreOneLineErrorsNamingTheKey) {
  const std::vector<std::pair<std::string, int64_t>> gpt2 = {
      {"n_layer", 1000000000},       {"n_embd", 1000000000},         {"n_head", 1000000000},
      {"vocab_size", 1000000000000}, {"n_positions", 1000000000000}, {"n_inner", int64_t(1) << 40}};
  for (const auto& [key, value] : gpt2) {
    nlohmann::json j = fixture_config();
    j[key] = value;
    EXPECT_EQ(error_of([&] { parse_model_config(j, "dir/config.json"); }),
              "dir/config.json: " + key + ": " + std::to_string(value) + " exceeds the limit of " +
                  std::to_string(key == "n_layer"                              ? 4096
                                 : key == "n_head"                             ? 16384
                                 : key == "vocab_size" || key == "n_positions" ? 16777216
                                                                               : 1048576) +
                  " (corrupt config.json?)");
  }
  for (const char* key :
       {"num_hidden_layers", "hidden_size", "num_attention_heads", "num_key_value_heads",
        "intermediate_size", "head_dim", "max_position_embeddings"}) {
    nlohmann::json j = llama_config();
    j[key] = int64_t(1) << 50;
    EXPECT_NE(error_of([&] { parse_model_config(j, "dir/config.json"); })
                  .find(std::string("dir/config.json: ") + key +
                        ": 1125899906842624 exceeds the limit of "),
              std::string::npos)
        << key;
  }
}

TEST(HostileConfig, SizesThatCannotFitTheWeightFilesNameTheKeyThatAccountsForThem) {
  const auto size = std::to_string(fs::file_size(kFixture / "model.safetensors"));
  nlohmann::json deep = fixture_config();
  deep["n_layer"] = 4000;  // within the cap, far beyond the 1.3 MB of weights
  const fs::path a = folder_with("deep", deep);
  EXPECT_EQ(error_of([&] { load_model_config(a); }),
            (a / "config.json").string() +
                ": n_layer: 4000 makes the model at least 1.97e+08 parameters, more than the " +
                size + " bytes of .safetensors files beside it hold (corrupt config.json?)");
  nlohmann::json wide = fixture_config();
  wide["n_embd"] = 65536;
  const fs::path b = folder_with("wide", wide);
  EXPECT_NE(error_of([&] {
              load_model_config(b);
            }).find((b / "config.json").string() + ": n_embd: 65536 makes"),
            std::string::npos);
  nlohmann::json vocab = fixture_config();
  vocab["vocab_size"] = 16000000;
  const fs::path c = folder_with("vocab", vocab);
  EXPECT_NE(error_of([&] {
              load_model_config(c);
            }).find((c / "config.json").string() + ": vocab_size: 16000000 makes"),
            std::string::npos);
  // The real fixture, and a config with no weight files beside it, load.
  EXPECT_EQ(load_model_config(kFixture).n_layers, 3);
  const fs::path alone = folder_with("alone", deep);
  fs::remove(alone / "model.safetensors");
  EXPECT_EQ(load_model_config(alone).n_layers, 4000);
}
