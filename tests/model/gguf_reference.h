#pragma once
// The checks of a real model against what Hugging Face transformers recorded in a fixture
// (tests/model/fixtures/<model>_reference.json, written by gguf_tools/make_<model>_reference.py):
// per prompt and position the top-10 ids and logits, logits at fixed vocabulary columns and the
// log-sum-exp of the row.
#include <algorithm>
#include <cmath>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "model/model.h"
#include "model/tokenizer/tokenizer.h"
#include "tests/model/gguf_model.h"
#include "tests/test_paths.h"

namespace csweep::test {

constexpr double kHfLogitTolerance = 1e-4;  // DESIGN.md: fp32 logits within 1e-4 of Hugging Face

inline nlohmann::json read_reference(const std::string& fixture) {
  std::ifstream in(csweep::testing::source_path("tests/model/fixtures/" + fixture));
  return nlohmann::json::parse(in);
}

// A real model's converted folder (dir_) and its reference fixture (ref_), for a fixture's
// SetUp: the test is skipped, with the reason, only when the model is neither cached nor
// downloadable, and fails otherwise.
class GgufReferenceTest : public ::testing::Test {
 protected:
  void load(const std::string& model) {
    std::string why;
    bool offline = false;
    dir_ = gguf_model_dir(model, &why, &offline);
    if (dir_.empty()) {
      if (offline) GTEST_SKIP() << why;
      FAIL() << why;
    }
    ref_ = read_reference(model + "_reference.json");
  }
  std::string dir_;
  nlohmann::json ref_;
};

// The committed mixed text (tests/model/fixtures/smollm2_mixed_text.txt) tokenizes to the
// fixture's "mixed_text_ids", reported at the first difference, and decodes back to itself.
inline void expect_mixed_text_ids(const csweep::model::Tokenizer& tok, const nlohmann::json& ref) {
  std::ifstream in(csweep::testing::source_path("tests/model/fixtures/smollm2_mixed_text.txt"),
                   std::ios::binary);
  std::stringstream mixed;
  mixed << in.rdbuf();
  const auto ids = tok.encode(mixed.str());
  const auto want = ref["mixed_text_ids"].get<std::vector<int64_t>>();
  ASSERT_EQ(ids.size(), want.size());
  for (size_t i = 0; i < ids.size(); ++i)
    ASSERT_EQ(ids[i], want[i]) << "first difference at token " << i;
  EXPECT_EQ(tok.decode(ids), mixed.str());
}

// Every recorded logit of every prompt within kHfLogitTolerance, and the same argmax; `prefix`
// goes before each prompt's ids (Gemma's BOS). Returns the largest |difference| seen.
inline double expect_recorded_logits(const csweep::model::Model& model, const nlohmann::json& ref,
                                     const std::vector<int64_t>& prefix = {}) {
  const auto sampled = ref["sampled_columns"].get<std::vector<int64_t>>();
  at::NoGradGuard no_grad;
  double worst = 0;
  for (const auto& p : ref["prompts"]) {
    SCOPED_TRACE(p["text"].get<std::string>());
    auto ids = prefix;
    for (int64_t id : p["ids"].get<std::vector<int64_t>>()) ids.push_back(id);
    // A long prompt may record only its last positions, from "first_recorded" on.
    const int64_t first = p.value("first_recorded", int64_t(0));
    at::Tensor logits = model.forward(at::tensor(ids, at::kLong).unsqueeze(0))[0].to(at::kDouble);
    EXPECT_EQ(logits.size(0) - first, int64_t(p["positions"].size()));
    if (logits.size(0) - first != int64_t(p["positions"].size())) continue;
    for (int64_t pos = first; pos < logits.size(0); ++pos) {
      const auto& want = p["positions"][size_t(pos - first)];
      at::Tensor row = logits[pos];
      auto check = [&](double got, double expected, const std::string& what) {
        worst = std::max(worst, std::fabs(got - expected));
        EXPECT_NEAR(got, expected, kHfLogitTolerance) << what << " at position " << pos;
      };
      check(at::logsumexp(row, 0).item<double>(), want["logsumexp"].get<double>(), "logsumexp");
      EXPECT_EQ(row.argmax().item<int64_t>(), want["top_ids"][0].get<int64_t>())
          << "argmax at position " << pos;
      for (size_t k = 0; k < want["top_ids"].size(); ++k)
        check(row[want["top_ids"][k].get<int64_t>()].item<double>(),
              want["top_logits"][k].get<double>(), "top-" + std::to_string(k + 1) + " logit");
      for (size_t k = 0; k < sampled.size(); ++k)
        check(row[sampled[k]].item<double>(), want["sampled_logits"][k].get<double>(),
              "logit of id " + std::to_string(sampled[k]));
    }
  }
  return worst;
}

}  // namespace csweep::test
