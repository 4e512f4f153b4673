// `csweep forward` end to end: the built binary ($CSWEEP_BIN) on the gpt2-tiny fixture.
#include <cstdio>
#include <memory>

#include <nlohmann/json.hpp>

#include "tests/model/reference/model_test_util.h"
#include "tests/run_command.h"
#include "tests/test_paths.h"

namespace csweep::model {
namespace {

using CliRun = csweep::testing::CommandResult;

CliRun run_cli(const std::string& args) {
  return csweep::testing::run_command(csweep::testing::csweep_bin() + " " + args);
}

std::string fixture_tokens(const std::string& which) {
  auto j = nlohmann::json::parse(testing::read_text(testing::gpt2_fixture() / "reference.json"));
  std::string list;
  for (auto& id : j.at("prompt").at(which + "_tokens")) {
    if (!list.empty()) list += ',';
    list += std::to_string(id.get<int64_t>());
  }
  return list;
}

TEST(TorchModelForwardCli, JsonLogitsMatchTheFixture) {
  auto ref = nlohmann::json::parse(testing::read_text(testing::gpt2_fixture() / "reference.json"));
  for (const std::string which : {"clean", "corrupted"}) {
    CliRun r = run_cli("forward --model " + testing::gpt2_fixture().string() + " --tokens " +
                       fixture_tokens(which) + " --json --top-k 3");
    ASSERT_EQ(r.status, 0) << r.output;
    auto j = nlohmann::json::parse(r.output);
    std::vector<float> ours = j.at("logits_last").get<std::vector<float>>();
    std::vector<float> want = ref.at("hf_logits_last_" + which).get<std::vector<float>>();
    ASSERT_EQ(ours.size(), want.size());
    double err = 0;
    for (size_t i = 0; i < ours.size(); ++i)
      err = std::max(err, double(std::abs(ours[i] - want[i])));
    std::printf("csweep forward --json (%s): max abs error %.3g\n", which.c_str(), err);
    EXPECT_LE(err, 1e-4);
    ASSERT_EQ(j.at("top_k").size(), 3u);
    int64_t best = std::max_element(want.begin(), want.end()) - want.begin();
    EXPECT_EQ(j.at("top_k")[0].at("id").get<int64_t>(), best);
    EXPECT_TRUE(j.at("top_k")[0].at("token").is_null());  // the fixture has no tokenizer
    EXPECT_EQ(j.at("tokens").size(), 8u);
  }
  // The answer token of the fixture is the clean prompt's top-1.
  CliRun r = run_cli("forward --model " + testing::gpt2_fixture().string() + " --tokens " +
                     fixture_tokens("clean") + " --json");
  EXPECT_EQ(nlohmann::json::parse(r.output).at("top_k")[0].at("id").get<int64_t>(),
            ref.at("prompt").at("answer_token").get<int64_t>());
}

TEST(TorchModelForwardCli, BadInputIsOneLineErrorAndNonZeroExit) {
  const std::string model = " --model " + testing::gpt2_fixture().string();
  struct Case {
    std::string args, expect;
  };
  for (const Case& c :
       std::vector<Case>{{"forward" + model + " --tokens 1,2,99999", "outside the vocabulary"},
                         {"forward" + model + " --tokens 1,x", "not an integer"},
                         {"forward" + model + " --tokens 1 --dtype float16", "float16"},
                         {"forward" + model + " --tokens 1 --dtype int8", "--dtype"},
                         {"forward" + model + " --prompt hello", "tokenizer"},
                         {"forward --model /nonexistent --tokens 1", "/nonexistent"}}) {
    CliRun r = run_cli(c.args);
    EXPECT_NE(r.status, 0) << c.args;
    EXPECT_NE(r.output.find(c.expect), std::string::npos) << c.args << " -> " << r.output;
    EXPECT_EQ(std::count(r.output.begin(), r.output.end(), '\n'), 1)
        << c.args << " -> " << r.output;
  }
}

TEST(TorchModelForwardCli, Bf16RunsAndIsClose) {
  CliRun r = run_cli("forward --model " + testing::gpt2_fixture().string() + " --tokens " +
                     fixture_tokens("clean") + " --json --dtype bfloat16");
  ASSERT_EQ(r.status, 0) << r.output;
  auto ref = nlohmann::json::parse(testing::read_text(testing::gpt2_fixture() / "reference.json"));
  std::vector<float> ours =
      nlohmann::json::parse(r.output).at("logits_last").get<std::vector<float>>();
  std::vector<float> want = ref.at("hf_logits_last_clean").get<std::vector<float>>();
  double err = 0, scale = 0;
  for (size_t i = 0; i < ours.size(); ++i) {
    err = std::max(err, double(std::abs(ours[i] - want[i])));
    scale = std::max(scale, double(std::abs(want[i])));
  }
  std::printf("csweep forward bf16: max abs error %.3g (logit scale %.3g)\n", err, scale);
  EXPECT_LE(err, 0.1 * scale);
}

}  // namespace
}  // namespace csweep::model
