// TransformerLens 4.x's activation-patching tables for SmolLM2-135M-Instruct on one IOI prompt
// (tests/model/fixtures/smollm2_tl_tables.json, written by gguf_tools/make_smollm2_tl_tables.py)
// reproduced by csweep's analyses on the fast (resumed) path: every cell within 1e-4. (The plain
// one-forward-per-patch path agrees too — 1.2e-5 / 1.6e-5 — but takes 13 minutes on 2 cores, so
// it is measured by hand: set CSWEEP_SMOLLM2_PLAIN=1.)
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "model/model.h"
#include "tests/analyses/request_grid.h"
#include "tests/model/gguf_model.h"
#include "tests/test_paths.h"

namespace csweep::analyses {
namespace {

class SmolLM2Tables : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    std::string why;
    bool offline = false;
    const std::string dir = test::smollm2_dir(&why, &offline);
    if (dir.empty()) return;
    model_ = model::Model::load(dir);
    std::ifstream in(csweep::testing::source_path("tests/model/fixtures/smollm2_tl_tables.json"));
    ref_ = nlohmann::json::parse(in);
  }
  static void TearDownTestSuite() { model_.reset(); }

  void SetUp() override {
    if (model_) return;
    std::string why;
    bool offline = false;
    test::smollm2_dir(&why, &offline);
    if (offline) GTEST_SKIP() << why;
    FAIL() << why;
  }

  SweepRequest request(model::HookPoint point, bool by_position) const {
    SweepRequest r;
    r.kind = "activation_patching";
    r.point = point;
    r.by_position = by_position;
    r.clean_tokens = ref_["clean_tokens"].get<std::vector<int64_t>>();
    r.corrupted_tokens = ref_["corrupted_tokens"].get<std::vector<int64_t>>();
    r.answers = {{ref_["answer_token"].get<int64_t>(), ref_["wrong_token"].get<int64_t>()}};
    return r;
  }

  void expect_table(const SweepRequest& r, const std::string& name, bool plain_too) {
    const auto expected = ref_["tables"][name].get<std::vector<double>>();
    const auto axes = grid_axes(r, model_->config());
    ASSERT_EQ(grid_cells(axes), int64_t(expected.size())) << name;
    CacheStore caches;
    for (bool plain : {false, true}) {
      if (plain && (!plain_too || !std::getenv("CSWEEP_SMOLLM2_PLAIN"))) continue;
      const auto got = plain ? run_cells_plain(*model_, r, 0, grid_cells(axes), caches)
                             : run_cells(*model_, r, 0, grid_cells(axes), caches);
      double worst = 0;
      for (size_t i = 0; i < expected.size(); ++i)
        worst = std::max(worst, std::fabs(double(got[i]) - expected[i]));
      std::printf("  SmolLM2 %-18s %-5s max |csweep - TransformerLens| %.3g over %zu cells\n",
                  name.c_str(), plain ? "plain" : "fast", worst, expected.size());
      EXPECT_LE(worst, 1e-4) << name << (plain ? " (plain)" : " (fast)");
    }
  }

  static std::shared_ptr<model::Model> model_;
  static nlohmann::json ref_;
};

std::shared_ptr<model::Model> SmolLM2Tables::model_;
nlohmann::json SmolLM2Tables::ref_;

TEST_F(SmolLM2Tables, Baselines) {
  CacheStore caches;
  const auto b = baselines(*model_, request(model::HookPoint::ResidPre, true), caches);
  EXPECT_NEAR(b.clean, ref_["logit_diff_clean"].get<double>(), 1e-4);
  EXPECT_NEAR(b.corrupted, ref_["logit_diff_corrupted"].get<double>(), 1e-4);
  EXPECT_GT(b.clean, 1.0) << "the model should prefer the indirect object";
}

TEST_F(SmolLM2Tables, ResidPreByPosition) {
  expect_table(request(model::HookPoint::ResidPre, true), "resid_pre", true);
}

TEST_F(SmolLM2Tables, HeadOutputsAllPositions) {
  expect_table(request(model::HookPoint::AttnZ, false), "head_out_all_pos", true);
}

TEST_F(SmolLM2Tables, HeadOutputsByPosition) {
  // 3780 patched runs: the plain path (one forward each) is left to the smaller tables.
  if (!ref_["tables"].contains("head_out_by_pos")) GTEST_SKIP() << "fixture recorded with --quick";
  expect_table(request(model::HookPoint::AttnZ, true), "head_out_by_pos", false);
}

}  // namespace
}  // namespace csweep::analyses
