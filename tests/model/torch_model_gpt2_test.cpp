// The TransformerLens/HF-made gpt2-tiny fixture: logits and every cached activation.
#include <nlohmann/json.hpp>

#include "model/model.h"
#include "tests/model/reference/model_test_util.h"

namespace csweep::model {
namespace {

using testing::gpt2_fixture;
using testing::max_abs_diff;
using testing::read_tensor;

constexpr double kTol = 1e-4;

std::shared_ptr<Model> load_gpt2() {
  static auto model = Model::load(gpt2_fixture(), {});
  return model;
}

at::Tensor fixture_tensor(const std::string& name, c10::ScalarType dtype = at::kFloat) {
  return read_tensor(gpt2_fixture() / "activations.safetensors", name, dtype);
}

at::Tensor reference_last_logits(const std::string& which) {
  auto j = nlohmann::json::parse(testing::read_text(gpt2_fixture() / "reference.json"));
  std::vector<float> v = j.at("hf_logits_last_" + which).get<std::vector<float>>();
  return at::tensor(v).view({1, 1, -1});
}

TEST(TorchModelGpt2, LogitsMatchHuggingFace) {
  auto model = load_gpt2();
  for (const std::string which : {"clean", "corrupted"}) {
    at::Tensor tokens = fixture_tensor("tokens/" + which, at::kLong);
    at::Tensor logits = model->forward(tokens);
    double err = max_abs_diff(logits, fixture_tensor("hf/logits_" + which));
    std::printf("gpt2-tiny %s: max |logits - hf| = %.3g\n", which.c_str(), err);
    EXPECT_LE(err, kTol);
    double err_last = max_abs_diff(logits.narrow(1, 7, 1), reference_last_logits(which));
    std::printf("gpt2-tiny %s: max |logits_last - reference.json| = %.3g\n", which.c_str(),
                err_last);
    EXPECT_LE(err_last, kTol);
  }
}

TEST(TorchModelGpt2, EveryCachedActivationMatchesTransformerLens) {
  auto model = load_gpt2();
  Hooks hooks;
  hooks.cache_all(nullptr);
  model->forward(fixture_tensor("tokens/clean", at::kLong), &hooks);
  auto file = SafetensorsFile::open(gpt2_fixture() / "activations.safetensors");
  const std::string prefix = "raw/clean/";
  int compared = 0, sites = 0;
  double worst = 0;
  std::string worst_name;
  for (const TensorEntry& e : file->tensors()) {
    if (e.name.compare(0, prefix.size(), prefix) != 0) continue;
    std::string hook_name = e.name.substr(prefix.size());
    at::Tensor ours;
    const std::string result_suffix = ".attn.hook_result";
    if (hook_name.size() > result_suffix.size() &&
        hook_name.compare(hook_name.size() - result_suffix.size(), result_suffix.size(),
                          result_suffix) == 0) {
      // TransformerLens's per-head outputs (use_attn_result) are not a site of ours; they are
      // z_h @ W_O[:, h] — checked from our z and W_O.
      auto z_site = parse_hook_site(hook_name.substr(0, hook_name.size() - result_suffix.size()) +
                                    ".attn.hook_z");
      ASSERT_TRUE(z_site.has_value());
      at::Tensor z = hooks.cache().at(*z_site);  // [b, p, h, dh]
      const auto& c = model->config();
      at::Tensor W_O =
          model->weights().layers[z_site->layer].W_O.view({c.d_model, c.n_heads, c.d_head});
      ours = at::einsum("bphe,dhe->bphd", {z, W_O});
    } else {
      auto site = parse_hook_site(hook_name);
      ASSERT_TRUE(site.has_value()) << "fixture has a hook we cannot name: " << hook_name;
      auto it = hooks.cache().find(*site);
      ASSERT_NE(it, hooks.cache().end()) << "forward never visited " << hook_name;
      ours = it->second;
      ++sites;
    }
    double err = max_abs_diff(ours, to_tensor(e, at::kFloat, at::kCPU));
    EXPECT_LE(err, kTol) << hook_name;
    if (err > worst) worst = err, worst_name = hook_name;
    ++compared;
  }
  std::printf("gpt2-tiny: %d activations compared, max abs error %.3g (%s)\n", compared, worst,
              worst_name.c_str());
  // Every site of the model was visited and every fixture activation is one of them.
  EXPECT_EQ(size_t(sites), all_sites(model->config()).size());
  EXPECT_EQ(hooks.cache().size(), all_sites(model->config()).size());
}

TEST(TorchModelGpt2, SavePretrainedLayoutWithPrefixAndBuffersLoads) {
  auto model = Model::load(testing::arch_fixtures() / "gpt2_prefixed", {});
  at::Tensor logits = model->forward(fixture_tensor("tokens/clean", at::kLong), nullptr,
                                     {0, {}, -1, ForwardOptions::Logits::Last});
  double err = max_abs_diff(logits, reference_last_logits("clean"));
  std::printf("gpt2 with transformer. prefix: max abs error %.3g\n", err);
  EXPECT_LE(err, kTol);
}

}  // namespace
}  // namespace csweep::model
