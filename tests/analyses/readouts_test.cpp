// Read-outs checked against quantities computed here from the runtime's own hook cache:
// attention-pattern scores, logit-lens rank, and DLA summing to the logit difference.
#include <fstream>

#include <ATen/core/grad_mode.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "random_models.h"
#include "tests/analyses/request_grid.h"

namespace csweep::analyses {
namespace {

using model::HookPoint;

std::map<model::HookSite, at::Tensor> run_cached(const model::Model& m,
                                                 const std::vector<int64_t>& tokens) {
  model::Hooks hooks;
  hooks.cache_all([](const model::HookSite&) { return true; });
  at::NoGradGuard no_grad;
  m.forward(at::tensor(tokens).view({1, -1}), &hooks);
  return hooks.cache();
}

TEST(Readouts, AttentionPatternScores) {
  auto m = testing::load_fixture_gpt2();
  SweepRequest r;
  r.kind = "attention_scores";
  r.clean_tokens = {5, 9, 5, 7, 9, 5, 3, 7};
  CacheStore caches;
  auto cache = run_cached(*m, r.clean_tokens);
  r.pattern_scores = {PatternScore::PreviousToken, PatternScore::DuplicateToken};
  const auto both = run_cells(*m, r, 0, 24, caches);  // [score, layer, head]
  const std::vector<float> prev(both.begin(), both.begin() + 12),
      dup(both.begin() + 12, both.end());
  for (int64_t l = 0; l < 3; ++l) {
    at::Tensor pattern = cache.at({HookPoint::AttnPattern, l})[0];  // [h, q, k]
    for (int64_t h = 0; h < 4; ++h) {
      double p = 0, d = 0;
      for (int64_t q = 1; q < 8; ++q) p += pattern[h][q][q - 1].item<double>() / 7;
      // duplicates: q=2 (k=0), q=4 (k=1), q=5 (k=0,2), q=7 (k=3) -> mean over those 4 queries
      d = (pattern[h][2][0] + pattern[h][4][1] + pattern[h][5][0] + pattern[h][5][2] +
           pattern[h][7][3])
              .item<double>() /
          4;
      EXPECT_NEAR(prev[l * 4 + h], p, 1e-5);
      EXPECT_NEAR(dup[l * 4 + h], d, 1e-5);
    }
  }
  r.pattern_scores = {PatternScore::Induction};
  r.clean_tokens.clear();
  r.induction_length = 10;
  const auto ind = run_cells(*m, r, 0, 12, caches);
  for (float v : ind) {
    EXPECT_GE(v, 0.0f);
    EXPECT_LE(v, 1.0f);
  }
  r.induction_length = 40;  // 80 tokens > n_ctx 64
  EXPECT_THROW(run_cells(*m, r, 0, 1, caches), std::exception);
}

TEST(Readouts, LogitLensRankAndDlaDecomposeTheLogitDiff) {
  auto m = testing::load_fixture_gpt2();
  std::ifstream in(std::string(testing::fixture_dir()) + "/reference.json");
  const auto ref = nlohmann::json::parse(in);
  SweepRequest r;
  r.clean_tokens = ref["prompt"]["clean_tokens"].get<std::vector<int64_t>>();
  const int64_t a = ref["prompt"]["answer_token"].get<int64_t>(),
                w = ref["prompt"]["wrong_token"].get<int64_t>();
  r.answers = {{a, w}};
  CacheStore caches;
  r.kind = "logit_lens";
  r.lens_values = {LensValue::Rank};
  const auto rank = run_cells(*m, r, 0, 3, caches);
  EXPECT_EQ(rank[2], 0.0f);  // the answer is the clean top-1 at the last layer
  EXPECT_GT(rank[0], 0.0f);  // and not at layer 0 (fixture top token there is 339)

  // DLA of every block + the embeddings' share + ln_final.b's share == the logit difference.
  r.kind = "direct_logit_attribution";
  r.point = HookPoint::ResidPost;
  const auto blocks = run_cells(*m, r, 0, 3, caches);
  r.point = HookPoint::AttnOut;
  const auto attn = run_cells(*m, r, 0, 3, caches);
  r.point = HookPoint::MlpOut;
  const auto mlp = run_cells(*m, r, 0, 3, caches);
  auto cache = run_cached(*m, r.clean_tokens);
  const auto& wt = m->weights();
  at::Tensor x = cache.at({HookPoint::ResidPost, 2})[0][-1];
  at::Tensor centred = x - x.mean();
  const double scale = (centred.pow(2).mean() + 1e-5).sqrt().item<double>();
  at::Tensor dir = (wt.W_U[a] - wt.W_U[w]);
  at::Tensor e = cache.at({HookPoint::ResidPre, 0})[0][-1];
  const double embed_share = ((e - e.mean()) / scale).dot(dir * wt.ln_final_w).item<double>();
  const double bias_share = wt.ln_final_b.dot(dir).item<double>();
  double total = embed_share + bias_share;
  for (int64_t l = 0; l < 3; ++l) {
    total += blocks[l];
    EXPECT_NEAR(blocks[l], attn[l] + mlp[l], 1e-5);
  }
  EXPECT_NEAR(total, ref["raw"]["logit_diff_clean"].get<double>(), 1e-4);
}

}  // namespace
}  // namespace csweep::analyses

namespace csweep::analyses {
namespace {

// Restoring the clean final residual at the last position restores the clean run exactly:
// that cell's indirect effect is clean - noised, whatever the noise.
TEST(CausalTracing, RestoringTheLastStateRecoversTheCleanRun) {
  auto m = testing::load_fixture_gpt2();
  SweepRequest r;
  r.kind = "causal_tracing";
  r.point = model::HookPoint::ResidPost;
  r.clean_tokens = {201, 888, 641, 766, 85, 445, 885, 339};
  r.answers = {{613, 486}};
  r.metric = MetricKind::Prob;
  r.subject_positions = {1, 2};
  r.samples = 3;
  r.seed = 42;
  CacheStore caches;
  const auto cells = run_cells(*m, r, 0, 24, caches);  // [layer 3, pos 8]
  const auto b = baselines(*m, r, caches);
  EXPECT_GT(std::abs(b.clean - b.corrupted), 1e-3);  // the noise matters
  EXPECT_NEAR(cells[2 * 8 + 7], b.clean - b.corrupted, 1e-5);
  // Positions before the subject never carry the noise: restoring them does nothing.
  EXPECT_NEAR(cells[0], 0.0, 1e-6);
  r.seed = 43;  // another draw, another result
  const auto other = run_cells(*m, r, 0, 24, caches);
  double diff = 0;
  for (size_t i = 0; i < cells.size(); ++i) diff += std::abs(cells[i] - other[i]);
  EXPECT_GT(diff, 1e-4);
}

}  // namespace
}  // namespace csweep::analyses
