// Grid shapes, cell ranges, request validation, and the cache store's reuse and bound.
#include <gtest/gtest.h>

#include <cstring>

#include "analyses/run_cache.h"
#include "common/error.h"
#include "random_models.h"
#include "tests/analyses/request_grid.h"

namespace csweep::analyses {
namespace {

using model::HookPoint;

SweepRequest tiny_request() {
  SweepRequest r;
  r.clean_tokens = {1, 2, 3, 4, 5};
  r.corrupted_tokens = {1, 9, 3, 4, 5};
  r.answers = {{6, 7}};
  return r;
}

std::vector<std::string> names(const std::vector<GridAxis>& axes) {
  std::vector<std::string> n;
  for (const auto& a : axes) n.push_back(a.name + ":" + std::to_string(a.size()));
  return n;
}

TEST(SweepGrid, AxesPerKind) {
  auto m = testing::random_llama(1);  // 3 layers, 4 heads, 2 KV heads
  const auto& c = m->config();
  SweepRequest r = tiny_request();
  r.point = HookPoint::AttnZ;
  EXPECT_EQ(names(grid_axes(r, c)), (std::vector<std::string>{"layer:3", "pos:5", "head:4"}));
  r.point = HookPoint::AttnK;
  EXPECT_EQ(names(grid_axes(r, c)), (std::vector<std::string>{"layer:3", "pos:5", "head:2"}));
  r.by_position = false;
  EXPECT_EQ(names(grid_axes(r, c)), (std::vector<std::string>{"layer:3", "head:2"}));
  r.point = HookPoint::ResidPre;
  r.by_position = true;
  r.layers = {2, 0};
  r.positions = {-1, 1};
  auto axes = grid_axes(r, c);
  EXPECT_EQ(names(axes), (std::vector<std::string>{"layer:2", "pos:2"}));
  EXPECT_EQ(axes[1].values, (std::vector<int64_t>{4, 1}));
  r.point = HookPoint::MlpPost;
  r.neurons = {3};
  r.layers.clear();
  r.positions.clear();
  EXPECT_EQ(names(grid_axes(r, c)), (std::vector<std::string>{"layer:3", "pos:5", "neuron:1"}));
  r = tiny_request();
  r.kind = "logit_lens";
  r.lens_values = {LensValue::Prob, LensValue::Rank};
  axes = grid_axes(r, c);
  EXPECT_EQ(names(axes), (std::vector<std::string>{"layer:3", "quantity:2"}));
  EXPECT_EQ(axes[1].labels, (std::vector<std::string>{"prob", "rank"}));
  r.kind = "attention_scores";
  EXPECT_EQ(names(grid_axes(r, c)), (std::vector<std::string>{"score:1", "layer:3", "head:4"}));
  r.kind = "activation_patching";
  r.sites = {HookPoint::AttnQ, HookPoint::AttnZ};
  EXPECT_EQ(names(grid_axes(r, c)),
            (std::vector<std::string>{"site:2", "layer:3", "pos:5", "head:4"}));
  r.sites = {HookPoint::AttnQ, HookPoint::AttnK};  // 4 query heads vs 2 KV heads
  EXPECT_THROW(grid_axes(r, c), Error);
  r.sites.clear();
  r.kind = "direct_logit_attribution";
  r.point = HookPoint::AttnZ;
  EXPECT_EQ(names(grid_axes(r, c)), (std::vector<std::string>{"layer:3", "head:4"}));
  r.kind = "causal_tracing";
  r.point = HookPoint::ResidPost;
  r.subject_positions = {0};
  EXPECT_EQ(grid_cells(grid_axes(r, c)), 15);
}

TEST(SweepGrid, ValidationNamesTheField) {
  auto m = testing::random_llama(1);
  auto expect_error = [&](SweepRequest r, const std::string& field) {
    try {
      grid_axes(r, m->config());
      ADD_FAILURE() << "no error for " << field;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(field), std::string::npos) << e.what();
    }
  };
  SweepRequest r = tiny_request();
  r.layers = {3};
  expect_error(r, "layers");
  r = tiny_request();
  r.point = HookPoint::AttnK;
  r.heads = {2};  // only 2 KV heads
  expect_error(r, "heads");
  r = tiny_request();
  r.corrupted_tokens.pop_back();
  expect_error(r, "corrupted_tokens");
  r = tiny_request();
  r.answers.clear();
  expect_error(r, "answers");
  r = tiny_request();
  r.clean_tokens[0] = 100000;
  expect_error(r, "clean_tokens");
  r = tiny_request();
  r.point = HookPoint::ResidMid;
  r.heads = {0};
  expect_error(r, "heads");
  r = tiny_request();
  r.kind = "causal_tracing";
  expect_error(r, "subject_positions");
  CacheStore caches;
  r = tiny_request();
  EXPECT_THROW(run_cells(*m, r, 0, 1000, caches), Error);
  r.kind = "patching";  // not the registry's name: no computation is registered under it
  expect_error(r, "kind");
}

TEST(SweepGrid, SiteAxisConcatenatesTheSingleSiteGrids) {
  auto m = testing::random_llama(2);
  SweepRequest r = tiny_request();
  r.sites = {HookPoint::AttnQ, HookPoint::AttnZ};
  CacheStore caches;
  const auto both = run_cells(*m, r, 20, 100, caches);  // a range across the site boundary (60)
  r.sites.clear();
  r.point = HookPoint::AttnQ;
  const auto q = run_cells(*m, r, 20, 60, caches);
  r.point = HookPoint::AttnZ;
  const auto z = run_cells(*m, r, 0, 40, caches);
  ASSERT_EQ(both.size(), 80u);
  for (size_t i = 0; i < 40; ++i) {
    EXPECT_FLOAT_EQ(both[i], q[i]);
    EXPECT_FLOAT_EQ(both[40 + i], z[i]);
  }
  EXPECT_EQ(parse_lens_value("top_token"), LensValue::TopToken);
  EXPECT_EQ(parse_pattern_score("induction"), PatternScore::Induction);
  EXPECT_EQ(parse_direction("noising"), Direction::Noising);
  EXPECT_EQ(parse_ablation_mode("resample"), AblationMode::Resample);
  EXPECT_THROW(parse_ablation_mode("drop"), Error);
}

TEST(SweepGrid, CacheStoreReusesAndEvicts) {
  auto m = testing::random_llama(1);
  CacheStore caches(2);
  SweepRequest r = tiny_request();
  r.point = HookPoint::AttnZ;
  run_cells(*m, r, 0, 10, caches);
  EXPECT_EQ(caches.forwards(), 2);  // clean + corrupted, once
  run_cells(*m, r, 10, 60, caches);
  EXPECT_EQ(caches.forwards(), 2);  // reused by the next shard
  r.point = HookPoint::MlpOut;      // a site not cached yet: one recompute per run
  run_cells(*m, r, 0, 15, caches);
  EXPECT_EQ(caches.forwards(), 4);
  SweepRequest other = tiny_request();
  other.clean_tokens = {7, 7, 7, 7, 7};
  other.corrupted_tokens = {8, 8, 8, 8, 8};
  run_cells(*m, other, 0, 3, caches);
  EXPECT_EQ(caches.size(), 2u);  // bounded
  EXPECT_EQ(caches.forwards(), 6);
}

// A shard's values are a function of the shard alone, never of what ran before it in the
// process: a resumed or re-issued shard lands in a process whose caches hold other runs. A
// cached run made for attention patterns (hooked pattern: the explicit attention path) must not
// serve a later request without them (fused kernel), nor be widened to serve it.
TEST(SweepGrid, ShardValuesDoNotDependOnWhatTheCacheHeldBefore) {
  auto m = testing::random_llama(1);
  SweepRequest ablate = tiny_request();
  ablate.kind = "ablation";
  ablate.ablation = AblationMode::Mean;
  ablate.by_position = false;
  ablate.point = HookPoint::AttnZ;
  ablate.reference_prompts = {ablate.clean_tokens, ablate.corrupted_tokens};
  const int64_t n = grid_cells(grid_axes(ablate, m->config()));
  CacheStore fresh;
  const std::vector<float> alone = run_cells(*m, ablate, 0, n, fresh);

  SweepRequest scores = tiny_request();
  scores.kind = "attention_scores";
  scores.point = HookPoint::AttnPattern;
  scores.pattern_scores = {PatternScore::PreviousToken};
  CacheStore warm;
  for (const auto& tokens : ablate.reference_prompts) {
    scores.clean_tokens = tokens;
    run_cells(*m, scores, 0, grid_cells(grid_axes(scores, m->config())), warm);
  }
  const std::vector<float> after = run_cells(*m, ablate, 0, n, warm);
  ASSERT_EQ(alone.size(), after.size());
  // The premise, or the test proves nothing: the two ways of computing a run differ.
  const model::HookSite z{HookPoint::AttnZ, 0}, pattern{HookPoint::AttnPattern, 0};
  const RunCache fused = compute_run_cache(*m, ablate.clean_tokens, {z});
  const RunCache explicit_path = compute_run_cache(*m, ablate.clean_tokens, {z, pattern});
  EXPECT_FALSE(at::equal(fused.at_site(z), explicit_path.at_site(z)));
  EXPECT_EQ(std::memcmp(alone.data(), after.data(), alone.size() * sizeof(float)), 0);
}

}  // namespace
}  // namespace csweep::analyses
