// Reproduces every TransformerLens table of the gpt2-tiny fixture (raw mode) through the
// sweep entry point, on the fast path and on the plain one-forward-per-patch path.
#include <fstream>

#include <ATen/core/grad_mode.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "analyses/weight_processing.h"
#include "random_models.h"
#include "tests/analyses/request_grid.h"

namespace csweep::analyses {
namespace {

using model::HookPoint;

class FixtureTables : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    std::ifstream in(std::string(testing::fixture_dir()) + "/reference.json");
    ref_ = new nlohmann::json(nlohmann::json::parse(in));
    model_ = testing::load_fixture_gpt2();
  }
  static void TearDownTestSuite() {
    delete ref_;
    model_.reset();
  }

  SweepRequest request(const std::string& kind, HookPoint point) const {
    const auto& p = (*ref_)["prompt"];
    SweepRequest r;
    r.kind = kind;
    r.point = point;
    r.clean_tokens = p["clean_tokens"].get<std::vector<int64_t>>();
    r.corrupted_tokens = p["corrupted_tokens"].get<std::vector<int64_t>>();
    r.answers = {{p["answer_token"].get<int64_t>(), p["wrong_token"].get<int64_t>()}};
    return r;
  }

  // Flattens a nested JSON array row-major.
  static std::vector<float> flat(const nlohmann::json& j) {
    std::vector<float> out;
    if (j.is_array()) {
      for (const auto& e : j) {
        auto sub = flat(e);
        out.insert(out.end(), sub.begin(), sub.end());
      }
    } else {
      out.push_back(j.get<float>());
    }
    return out;
  }

  // Both paths against the table; prints the maximum absolute error.
  void expect_table(const SweepRequest& r, const nlohmann::json& table, const std::string& what,
                    const model::Model* model = nullptr) {
    const model::Model& m = model ? *model : *model_;
    const auto expected = flat(table);
    const auto axes = grid_axes(r, m.config());
    ASSERT_EQ(grid_cells(axes), static_cast<int64_t>(expected.size())) << what;
    CacheStore caches;
    for (bool plain : {false, true}) {
      const auto got = plain ? run_cells_plain(m, r, 0, grid_cells(axes), caches)
                             : run_cells(m, r, 0, grid_cells(axes), caches);
      double max_err = 0.0;
      for (size_t i = 0; i < expected.size(); ++i)
        max_err = std::max(max_err, std::abs(double(got[i]) - expected[i]));
      std::printf("[fixture] %-28s %-5s max abs error %.3g\n", what.c_str(),
                  plain ? "plain" : "fast", max_err);
      EXPECT_LE(max_err, 1e-4) << what << (plain ? " (plain)" : " (fast)");
    }
  }

  static nlohmann::json* ref_;
  static std::shared_ptr<model::Model> model_;
};

nlohmann::json* FixtureTables::ref_ = nullptr;
std::shared_ptr<model::Model> FixtureTables::model_;

TEST_F(FixtureTables, BaselinesMatchLogitDiffs) {
  CacheStore caches;
  const auto b = baselines(*model_, request("activation_patching", HookPoint::ResidPre), caches);
  EXPECT_NEAR(b.clean, (*ref_)["raw"]["logit_diff_clean"].get<double>(), 1e-4);
  EXPECT_NEAR(b.corrupted, (*ref_)["raw"]["logit_diff_corrupted"].get<double>(), 1e-4);
}

TEST_F(FixtureTables, PatchResidPreAttnOutMlpOut) {
  const auto& t = (*ref_)["raw"]["patching"];
  expect_table(request("activation_patching", HookPoint::ResidPre), t["resid_pre"],
               "patching.resid_pre");
  expect_table(request("activation_patching", HookPoint::AttnOut), t["attn_out"],
               "patching.attn_out");
  expect_table(request("activation_patching", HookPoint::MlpOut), t["mlp_out"], "patching.mlp_out");
}

TEST_F(FixtureTables, PatchHeadOutputs) {
  const auto& t = (*ref_)["raw"]["patching"];
  expect_table(request("activation_patching", HookPoint::AttnZ), t["attn_head_out_by_pos"],
               "patching.head_out_by_pos");
  auto all_pos = request("activation_patching", HookPoint::AttnZ);
  all_pos.by_position = false;
  expect_table(all_pos, t["attn_head_out_all_pos"], "patching.head_out_all_pos");
}

TEST_F(FixtureTables, ZeroAndMeanAblationOfHeads) {
  auto zero = request("ablation", HookPoint::AttnZ);
  zero.by_position = false;
  zero.ablation = AblationMode::Zero;
  expect_table(zero, (*ref_)["raw"]["zero_ablate_head_z"], "zero_ablate_head_z");
  auto mean = zero;
  mean.ablation = AblationMode::Mean;  // reference set = the clean prompt itself, as in the fixture
  expect_table(mean, (*ref_)["raw"]["mean_ablate_head_z"], "mean_ablate_head_z");
}

TEST_F(FixtureTables, LogitLens) {
  const auto& t = (*ref_)["raw"]["logit_lens"];
  auto r = request("logit_lens", HookPoint::ResidPost);
  r.lens_values = {LensValue::Prob};
  expect_table(r, t["prob_answer"], "logit_lens.prob_answer");
  r.lens_values = {LensValue::LogitDiff};
  expect_table(r, t["logit_diff"], "logit_lens.logit_diff");
  r.lens_values = {LensValue::TopToken};
  expect_table(r, t["top_token"], "logit_lens.top_token");
}

TEST_F(FixtureTables, DirectLogitAttributionPerHead) {
  expect_table(request("direct_logit_attribution", HookPoint::AttnZ), (*ref_)["raw"]["dla_head"],
               "dla_head");
}

// TransformerLens's default processing (fold_ln, center_writing_weights, center_unembed,
// fold_value_biases): the `processed` tables, where zero-ablation and DLA differ from raw.
TEST_F(FixtureTables, ProcessedWeightsMatchTransformerLensDefaults) {
  auto processed = testing::load_fixture_gpt2();
  process_weights(*processed);
  const auto& t = (*ref_)["processed"];
  {  // logits equal TL's processed logits (which differ from HF's by a per-position constant)
    const auto& p = (*ref_)["prompt"];
    at::Tensor tokens = at::tensor(p["clean_tokens"].get<std::vector<int64_t>>()).view({1, -1});
    at::NoGradGuard no_grad;
    at::Tensor logits = processed->forward(tokens).select(1, -1)[0];
    at::Tensor expected = at::tensor(t["logits_last_clean"].get<std::vector<float>>());
    const double err = (logits - expected).abs().max().item<double>();
    std::printf("[fixture] processed logits_last_clean     max abs error %.3g\n", err);
    EXPECT_LE(err, 1e-4);
  }
  auto zero = request("ablation", HookPoint::AttnZ);
  zero.by_position = false;
  expect_table(zero, t["zero_ablate_head_z"], "processed zero_ablate_head_z", processed.get());
  auto mean = zero;
  mean.ablation = AblationMode::Mean;
  expect_table(mean, t["mean_ablate_head_z"], "processed mean_ablate_head_z", processed.get());
  expect_table(request("direct_logit_attribution", HookPoint::AttnZ), t["dla_head"],
               "processed dla_head", processed.get());
  expect_table(request("activation_patching", HookPoint::AttnZ),
               t["patching"]["attn_head_out_by_pos"], "processed head_out_by_pos", processed.get());
  auto lens = request("logit_lens", HookPoint::ResidPost);
  expect_table(lens, t["logit_lens"]["prob_answer"], "processed logit_lens.prob", processed.get());
}

}  // namespace
}  // namespace csweep::analyses
