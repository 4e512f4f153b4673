// GPT-NeoX, Llama, Mistral, Qwen2, Qwen3: random checkpoints in the exact HF layout against
// the independent python reference (tests/model/reference/make_arch_fixtures.py).
#include "common/error.h"
#include "model/model.h"
#include "tests/model/reference/model_test_util.h"

namespace csweep::model {
namespace {

using testing::arch_fixtures;
using testing::max_abs_diff;
using testing::read_tensor;

double logits_error(const std::string& variant, c10::ScalarType dtype = at::kFloat) {
  const auto dir = arch_fixtures() / variant;
  auto model = Model::load(dir, {dtype, at::kCPU});
  at::Tensor tokens = read_tensor(dir / "reference.safetensors", "tokens", at::kLong);
  at::Tensor logits = model->forward(tokens);
  double err = max_abs_diff(logits, read_tensor(dir / "reference.safetensors", "logits"));
  std::printf("%s (%s): max |logits - reference| = %.3g\n", variant.c_str(), c10::toString(dtype),
              err);
  return err;
}

class TorchModelArch : public ::testing::TestWithParam<std::string> {};

TEST_P(TorchModelArch, Fp32LogitsMatchReference) { EXPECT_LE(logits_error(GetParam()), 1e-4); }

INSTANTIATE_TEST_SUITE_P(Variants, TorchModelArch,
                         ::testing::Values("neox_parallel", "neox_sequential",
                                           "llama_gqa_llama3_tied", "llama_untied", "mistral",
                                           "qwen2", "qwen3", "gemma3", "llama_f16", "llama_bf16"));

TEST(TorchModelArchConfig, FixturesExerciseTheFeatures) {
  // Guards the fixture writer: each variant must really have the feature it is named for.
  auto cfg = [](const std::string& v) { return load_model_config(arch_fixtures() / v); };
  EXPECT_TRUE(cfg("neox_parallel").parallel_residual);
  EXPECT_FALSE(cfg("neox_sequential").parallel_residual);
  EXPECT_EQ(cfg("neox_parallel").rotary_dim, 4);
  EXPECT_LT(cfg("llama_gqa_llama3_tied").n_kv_heads, cfg("llama_gqa_llama3_tied").n_heads);
  EXPECT_EQ(cfg("llama_gqa_llama3_tied").rope_scaling.type, "llama3");
  EXPECT_TRUE(cfg("llama_gqa_llama3_tied").tie_word_embeddings);
  EXPECT_FALSE(cfg("llama_untied").tie_word_embeddings);
  EXPECT_EQ(cfg("mistral").sliding_window, 3);
  EXPECT_TRUE(cfg("qwen2").qkv_bias);
  EXPECT_EQ(cfg("gemma3").local_layers, (std::vector<bool>{true, false}));
  EXPECT_EQ(cfg("gemma3").local_window, 3);
  EXPECT_EQ(cfg("gemma3").rope_scaling.type, "linear");
  EXPECT_EQ(cfg("gemma3").final_logit_softcap, 5.0);
  EXPECT_TRUE(cfg("qwen3").qk_norm);
  EXPECT_NE(cfg("qwen3").d_head * cfg("qwen3").n_heads, cfg("qwen3").d_model);
}

TEST(TorchModelArchDtype, Bf16IsCloseToFp32) {
  for (const std::string v : {"llama_gqa_llama3_tied", "neox_parallel", "qwen3"}) {
    const auto dir = arch_fixtures() / v;
    at::Tensor tokens = read_tensor(dir / "reference.safetensors", "tokens", at::kLong);
    at::Tensor ref = read_tensor(dir / "reference.safetensors", "logits");
    at::Tensor bf16 = Model::load(dir, {at::kBFloat16, at::kCPU})->forward(tokens);
    EXPECT_EQ(bf16.scalar_type(), at::kBFloat16);
    // bf16 keeps 8 bits of mantissa: relative to the logit scale, a few per cent.
    double scale = ref.abs().max().item<double>();
    double err = max_abs_diff(bf16, ref);
    std::printf("%s bf16: max abs error %.3g (logit scale %.3g)\n", v.c_str(), err, scale);
    EXPECT_LE(err, 0.1 * scale);
    EXPECT_GT(err, 0.0);  // it really ran in bf16
  }
}

TEST(TorchModelArchDtype, Float16ComputeOnCpuIsRefused) {
  try {
    Model::load(arch_fixtures() / "llama_f16", {at::kHalf, at::kCPU});
    FAIL() << "float16 compute on CPU must be refused";
  } catch (const csweep::Error& e) {
    EXPECT_NE(std::string(e.what()).find("float16"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace csweep::model
