// Every fast path (batched rows, suffix recomputation from the cached residual, last-position
// logits, micro-batching, cell ranges) against the plain one-full-forward-per-cell computation,
// on GPT-2 (the fixture) and random NeoX- and Llama-shaped models. fp32: <= 1e-4.
#include <gtest/gtest.h>

#include "random_models.h"
#include "tests/analyses/request_grid.h"

namespace csweep::analyses {
namespace {

using model::HookPoint;

double g_max_diff = 0.0;  // over the whole suite, printed at the end

SweepRequest base_request(const model::Model& m) {
  SweepRequest r;
  const int64_t v = m.config().d_vocab;
  r.clean_tokens = {11, 42, 7 % v, 99, 5, 123, 42, 77, 3, 250 % v};
  r.corrupted_tokens = r.clean_tokens;
  r.corrupted_tokens[1] = 300 % v;
  r.corrupted_tokens[6] = 17;
  r.answers = {{13, 29}, {101, 8}};
  return r;
}

void expect_fast_equals_plain(const model::Model& m, const SweepRequest& r,
                              const std::string& what) {
  CacheStore caches;
  const int64_t n = grid_cells(grid_axes(r, m.config()));
  const auto fast = run_cells(m, r, 0, n, caches);
  SweepRequest small_calls = r;  // calls of 3 full-length rows' tokens: groups split across calls
  small_calls.batch.max_batch = 3;
  const auto fast_suffix = run_cells(m, small_calls, 0, n, caches);
  const auto plain = run_cells_plain(m, r, 0, n, caches);
  ASSERT_EQ(fast.size(), plain.size());
  double max_diff = 0.0, spread = 0.0;
  for (size_t i = 0; i < fast.size(); ++i) {
    max_diff = std::max(max_diff, std::abs(double(fast[i]) - plain[i]));
    max_diff = std::max(max_diff, std::abs(double(fast_suffix[i]) - plain[i]));
    spread = std::max(spread, std::abs(double(plain[i]) - plain[0]));
  }
  g_max_diff = std::max(g_max_diff, max_diff);
  std::printf("[fast vs plain] %-40s %5ld cells  max abs diff %.3g\n", what.c_str(),
              static_cast<long>(n), max_diff);
  EXPECT_LE(max_diff, 1e-4) << what;
  // A sweep whose cells all agree would not test anything.
  EXPECT_GT(spread, 1e-3) << what << ": every cell has the same value";
}

struct Case {
  std::string kind;  // the registry's name
  HookPoint point;
  bool by_position = true;
};

void run_cases(const model::Model& m, const std::string& arch, const std::vector<Case>& cases) {
  for (const Case& c : cases) {
    SweepRequest r = base_request(m);
    r.kind = c.kind;
    r.point = c.point;
    r.by_position = c.by_position;
    expect_fast_equals_plain(m, r,
                             arch + " " + c.kind + " " + model::point_suffix(c.point) +
                                 (c.by_position ? "" : " all-pos"));
  }
}

const std::vector<Case> kCommonCases = {
    {"activation_patching", HookPoint::ResidPre},
    {"activation_patching", HookPoint::AttnZ},
    {"activation_patching", HookPoint::AttnQ},
    {"activation_patching", HookPoint::AttnK},
    {"activation_patching", HookPoint::AttnV},
    {"activation_patching", HookPoint::AttnPattern},
    {"activation_patching", HookPoint::AttnOut},
    {"activation_patching", HookPoint::MlpOut},
    {"activation_patching", HookPoint::AttnK, false},
    {"activation_patching", HookPoint::AttnPattern, false},
    {"activation_patching", HookPoint::ResidPost},
    {"ablation", HookPoint::AttnZ, false},
    {"ablation", HookPoint::ResidPost, false},
};

TEST(FastPath, Gpt2) {
  auto m = testing::load_fixture_gpt2();
  auto cases = kCommonCases;
  cases.push_back({"activation_patching", HookPoint::ResidMid});
  cases.push_back({"activation_patching", HookPoint::MlpPost});
  cases.push_back({"activation_patching", HookPoint::AttnScores});
  cases.push_back({"activation_patching", HookPoint::Embed});
  run_cases(*m, "gpt2", cases);
}

TEST(FastPath, NeoX) { run_cases(*testing::random_neox(7), "neox", kCommonCases); }

TEST(FastPath, LlamaWithGroupedQueryAttention) {
  auto m = testing::random_llama(11);
  auto cases = kCommonCases;
  cases.push_back({"activation_patching", HookPoint::AttnRotK});
  run_cases(*m, "llama", cases);
  // k/v have one head per KV group.
  SweepRequest r = base_request(*m);
  r.point = HookPoint::AttnV;
  const auto axes = grid_axes(r, m->config());
  EXPECT_EQ(axes.back().name, "head");
  EXPECT_EQ(axes.back().size(), 2);
}

TEST(FastPath, NoisingMetricsAndNeurons) {
  auto m = testing::load_fixture_gpt2();
  SweepRequest r = base_request(*m);
  r.point = HookPoint::AttnZ;
  r.direction = Direction::Noising;
  r.metric = MetricKind::KL;
  expect_fast_equals_plain(*m, r, "gpt2 noising z, KL");
  r = base_request(*m);
  r.point = HookPoint::MlpPost;
  r.neurons = {0, 5, 200};
  r.metric = MetricKind::LogProb;
  expect_fast_equals_plain(*m, r, "gpt2 mlp.hook_post neurons, logprob");
  r.kind = "ablation";
  r.ablation = AblationMode::Mean;
  r.by_position = false;
  r.metric = MetricKind::Prob;
  r.reference_prompts = {r.corrupted_tokens, {5, 6, 7, 8, 9, 10, 11, 12, 13, 14}};
  expect_fast_equals_plain(*m, r, "gpt2 mean-ablate neurons over 2 refs, prob");
  r.mean_per_position = true;
  expect_fast_equals_plain(*m, r, "gpt2 mean-ablate neurons per position, prob");
  r.mean_per_position = false;
  r.ablation = AblationMode::Resample;
  r.neurons.clear();
  r.point = HookPoint::AttnZ;
  expect_fast_equals_plain(*m, r, "gpt2 resample-ablate heads");
}

TEST(FastPath, PerPositionMeanOfThePromptItselfChangesNothing) {
  // With the prompt as its only reference, the per-position mean IS the clean activation:
  // every cell must give the clean metric. The mean over positions must not.
  auto m = testing::load_fixture_gpt2();
  SweepRequest r = base_request(*m);
  r.kind = "ablation";
  r.ablation = AblationMode::Mean;
  r.by_position = false;
  r.point = HookPoint::AttnZ;
  r.reference_prompts = {r.clean_tokens};
  CacheStore caches;
  const int64_t n = grid_cells(grid_axes(r, m->config()));
  const float clean = static_cast<float>(baselines(*m, r, caches).clean);
  r.mean_per_position = true;
  for (float v : run_cells(*m, r, 0, n, caches)) EXPECT_NEAR(v, clean, 1e-5);
  r.mean_per_position = false;
  double moved = 0.0;
  for (float v : run_cells(*m, r, 0, n, caches))
    moved = std::max(moved, std::abs(double(v) - clean));
  EXPECT_GT(moved, 1e-3);
}

TEST(FastPath, ValuesWithoutTheBatchAxisBroadcastAsInThePlainPath) {
  // Edit values may be any shape that broadcasts to one row: [P, d], [P, h, d_head] and
  // [h, P, P] carry the positions one axis further left than cache entries do.
  auto m = testing::load_fixture_gpt2();
  SweepRequest r = base_request(*m);
  const auto clean =
      compute_run_cache(*m, r.clean_tokens, {{HookPoint::AttnZ, 1}, {HookPoint::AttnPattern, 1}});
  const auto corrupted = compute_run_cache(*m, r.corrupted_tokens,
                                           {{HookPoint::AttnZ, 1}, {HookPoint::AttnPattern, 1}});
  std::vector<RowEdits> rows;
  for (int64_t p : {2, 5, 9}) {
    rows.push_back({Edit{{HookPoint::ResidPre, 1},
                         EditSlice{{p}, {}, {}},
                         clean.at_site({HookPoint::ResidPre, 1})[0]}});
    rows.push_back({Edit{
        {HookPoint::AttnZ, 1}, EditSlice{{p}, {1}, {}}, clean.at_site({HookPoint::AttnZ, 1})[0]}});
    rows.push_back({Edit{{HookPoint::AttnPattern, 1},
                         EditSlice{{p}, {0}, {}},
                         clean.at_site({HookPoint::AttnPattern, 1})[0]}});
  }
  const Metric metric(MetricKind::LogitDiff, r.answers);
  const auto fast = run_rows(*m, corrupted, rows, metric);
  const auto plain = run_rows_plain(*m, corrupted, rows, metric);
  double spread = 0.0;
  for (size_t i = 0; i < rows.size(); ++i) {
    EXPECT_NEAR(fast[i], plain[i], 1e-4) << "row " << i;
    spread = std::max(spread, std::abs(double(plain[i]) - plain[0]));
  }
  EXPECT_GT(spread, 1e-3);
}

TEST(FastPath, Bf16IsAsCloseToFp32AsThePlainBf16Loop) {
  // bf16 packs rows differently from the plain loop, so sums round differently; what must hold
  // is that the fast path is no further from the fp32 truth than the plain bf16 loop is (a wrong
  // dtype or a mis-packed row would be off by far more).
  model::LoadOptions load;
  load.dtype = at::kBFloat16;
  auto bf16 = model::Model::load(testing::fixture_dir(), load);
  auto fp32 = testing::load_fixture_gpt2();
  for (HookPoint point : {HookPoint::AttnZ, HookPoint::ResidPre, HookPoint::MlpOut}) {
    SweepRequest r = base_request(*fp32);
    r.point = point;
    CacheStore caches32, caches16;
    const int64_t n = grid_cells(grid_axes(r, fp32->config()));
    const auto truth = run_cells_plain(*fp32, r, 0, n, caches32);
    const auto fast = run_cells(*bf16, r, 0, n, caches16);
    const auto plain = run_cells_plain(*bf16, r, 0, n, caches16);
    double fast_err = 0.0, plain_err = 0.0, spread = 0.0;
    for (int64_t i = 0; i < n; ++i) {
      fast_err = std::max(fast_err, std::abs(double(fast[i]) - truth[i]));
      plain_err = std::max(plain_err, std::abs(double(plain[i]) - truth[i]));
      spread = std::max(spread, std::abs(double(truth[i]) - truth[0]));
    }
    std::printf(
        "[bf16 vs fp32] gpt2 patching %-18s %4ld cells  fast %.3g, plain loop %.3g (spread %.3g)\n",
        model::point_suffix(point), static_cast<long>(n), fast_err, plain_err, spread);
    EXPECT_LE(fast_err, 1.5 * plain_err + 0.02) << model::point_suffix(point);
    EXPECT_GT(spread, 0.3) << model::point_suffix(point);
  }
}

TEST(FastPath, CausalTracingWindows) {
  for (auto m : {testing::load_fixture_gpt2(), testing::random_llama(3)}) {
    SweepRequest r = base_request(*m);
    r.kind = "causal_tracing";
    r.subject_positions = {1, 2};
    r.metric = MetricKind::Prob;
    r.seed = 5;
    r.point = HookPoint::ResidPost;
    expect_fast_equals_plain(
        *m, r, std::string(model::arch_name(m->config().arch)) + " causal tracing resid_post");
    r.point = HookPoint::MlpOut;
    r.window = 3;
    r.samples = 2;
    expect_fast_equals_plain(
        *m, r,
        std::string(model::arch_name(m->config().arch)) + " causal tracing mlp_out window 3");
  }
}

TEST(FastPath, MicroBatchesAndCellRangesAgree) {
  auto m = testing::load_fixture_gpt2();
  SweepRequest r = base_request(*m);
  r.point = HookPoint::AttnZ;
  CacheStore caches;
  const int64_t n = grid_cells(grid_axes(r, m->config()));
  const auto whole = run_cells(*m, r, 0, n, caches);
  r.batch.memory_budget_bytes =
      3 * bytes_per_row(m->config(), 10, at::kFloat);  // 3 rows per forward
  EXPECT_EQ(micro_batch_size(m->config(), 10, at::kFloat, r.batch), 3);
  std::vector<float> pieces;
  for (int64_t b = 0; b < n; b += 17) {  // shards cutting across layers
    const auto part = run_cells(*m, r, b, std::min(n, b + 17), caches);
    pieces.insert(pieces.end(), part.begin(), part.end());
  }
  ASSERT_EQ(pieces.size(), whole.size());
  double max_diff = 0.0;
  for (size_t i = 0; i < whole.size(); ++i)
    max_diff = std::max(max_diff, std::abs(double(whole[i]) - pieces[i]));
  EXPECT_LE(max_diff, 1e-5);
}

TEST(FastPath, ZZReportMaximum) {
  std::printf("[fast vs plain] suite maximum abs diff %.3g\n", g_max_diff);
}

}  // namespace
}  // namespace csweep::analyses
