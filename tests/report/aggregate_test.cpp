// Statistics over prompts, fraction recovered and top-k on the closed-form sample input.
#include <cmath>

#include <gtest/gtest.h>

#include "common/error.h"
#include "model/sae_activation_bins.h"
#include "report/aggregate.h"
#include "report/feature_search.h"
#include "sample_input.h"
#include "tests/error_of.h"

namespace csweep::report {
namespace {

using testing::sample_input;
using testing::sample_value;

float base(int64_t c) { return sample_value(0, c); }

TEST(ReportAggregate, MeanStdSemOverDonePrompts) {
  const ReduceInput in = sample_input();
  const AnalysisInput& a = in.analyses[1];  // all done, 3 prompts: offsets 0, .25, .5
  const Aggregates g = aggregate(a);
  ASSERT_EQ(g.mean.size(), 12u);
  for (int64_t c = 0; c < 12; ++c) {
    EXPECT_NEAR(g.mean[c], base(c) + 0.25f, 1e-6) << c;
    EXPECT_NEAR(g.std[c], 0.25f, 1e-6) << c;
    EXPECT_NEAR(g.sem[c], 0.25f / std::sqrt(3.0f), 1e-6) << c;
    EXPECT_EQ(g.n_done[c], 3);
  }
  EXPECT_FALSE(g.has_fraction);
  EXPECT_EQ(g.cells_done, 36);
  EXPECT_EQ(g.cells_total, 36);
}

TEST(ReportAggregate, PartialPromptsCountOnlyWhereDone) {
  const ReduceInput in = sample_input();
  const AnalysisInput& a = in.analyses[0];  // prompt 2 done for cells < 12 only
  const Aggregates g = aggregate(a);
  EXPECT_EQ(g.cells_total, 72);
  EXPECT_EQ(g.cells_done, 60);
  EXPECT_NEAR(g.mean[0], base(0) + 0.25f, 1e-6);
  EXPECT_EQ(g.n_done[0], 3);
  EXPECT_NEAR(g.mean[12], base(12) + 0.125f, 1e-6);
  EXPECT_EQ(g.n_done[12], 2);
  EXPECT_NEAR(g.std[12], std::sqrt(2 * 0.125 * 0.125), 1e-6);
  EXPECT_NEAR(g.sem[12], 0.125f, 1e-6);
}

TEST(ReportAggregate, NothingDoneIsNaNAndOnePromptHasNoSpread) {
  ReduceInput in = sample_input();
  AnalysisInput a = in.analyses[1];
  for (auto& row : a.done) std::fill(row.begin(), row.end(), 0);
  a.done[1][5] = 1;
  const Aggregates g = aggregate(a);
  EXPECT_TRUE(std::isnan(g.mean[0]));
  EXPECT_TRUE(std::isnan(g.std[0]));
  EXPECT_EQ(g.n_done[0], 0);
  EXPECT_NEAR(g.mean[5], sample_value(1, 5), 1e-6);
  EXPECT_TRUE(std::isnan(g.std[5]));
  EXPECT_TRUE(std::isnan(g.sem[5]));
  EXPECT_EQ(g.cells_done, 1);
}

TEST(ReportAggregate, FractionRecoveredIsRatioOfMeansOverPromptsWithBaselines) {
  const ReduceInput in = sample_input();
  const AnalysisInput& a = in.analyses[0];  // prompt 2 has no clean baseline
  const Aggregates g = aggregate(a);
  ASSERT_TRUE(g.has_fraction);
  for (int64_t c : {0, 5, 12, 23}) {
    // prompts 0 and 1: patched mean base + .125, clean mean 2.25, corrupted mean -.75
    EXPECT_NEAR(g.fraction_recovered[c], (base(c) + 0.125 + 0.75) / 3.0, 1e-6) << c;
    EXPECT_NEAR(g.fraction_per_prompt[0][c], (base(c) + 1.0) / 3.0, 1e-6);
    EXPECT_NEAR(g.fraction_per_prompt[1][c], (base(c) + 0.25 + 0.5) / 3.0, 1e-6);
    EXPECT_TRUE(std::isnan(g.fraction_per_prompt[2][c]));
  }
}

TEST(ReportAggregate, TopComponentsByAbsoluteEffectFromCorruptedBaseline) {
  const ReduceInput in = sample_input();
  const AnalysisInput& a = in.analyses[0];
  const Aggregates g = aggregate(a);
  const auto top = top_components(a, g, 3);
  ASSERT_EQ(top.size(), 3u);
  EXPECT_EQ(top[0].cell, 6);
  EXPECT_NEAR(top[0].effect, 1.5 + 13.0 / 12.0, 1e-5);  // mean over prompts of value - corrupted
  EXPECT_EQ(top[0].index, (std::vector<int64_t>{1, 0, 0}));
  EXPECT_EQ(top[0].label, "layer 1, pos 1, head 0");
  EXPECT_EQ(top[1].cell, 13);  // ties keep row-major order
  EXPECT_EQ(top[2].cell, 20);
  EXPECT_NEAR(top[1].effect, 2.375, 1e-5);
  EXPECT_EQ(top[1].n_done, 2);
}

TEST(ReportAggregate, TopComponentsWithoutBaselinesRankByMeanAndUseNamedLabels) {
  const ReduceInput in = sample_input();
  const AnalysisInput& a = in.analyses[2];  // site x layer, no baselines
  const auto top = top_components(a, aggregate(a), 100);
  ASSERT_EQ(top.size(), 12u);
  EXPECT_EQ(top[0].cell, 6);
  EXPECT_NEAR(top[0].effect, 1.75, 1e-6);
  EXPECT_EQ(top[0].label, "site attn_out, layer 2");
  EXPECT_TRUE(std::isnan(top[0].fraction_recovered));
  for (size_t i = 1; i < top.size(); ++i)
    EXPECT_GE(std::fabs(top[i - 1].effect), std::fabs(top[i].effect));
}

// Ablation measures from the clean run: effect = ablated - clean and the fraction of the clean
// metric removed; the head whose ablation moves the metric most ranks first, not the one
// with the largest ablated metric.
TEST(ReportAggregate, AblationEffectIsFromTheCleanRun) {
  AnalysisInput a;
  a.name = "zero_heads", a.kind = "ablation", a.metric = "logit_diff";
  a.reference = AnalysisInput::Reference::Clean;
  a.axes = {{"layer", 1, {}, {}}, {"head", 3, {}, {}}};
  a.values = {{3.9f, 0.5f, 4.2f}, {2.0f, 1.0f, 2.0f}};
  a.done = {{1, 1, 1}, {1, 1, 1}};
  a.clean_baseline = {4.0, 2.0};  // no corrupted baseline needed
  const Aggregates g = aggregate(a);
  ASSERT_TRUE(g.has_fraction);
  EXPECT_NEAR(g.effect[0], ((3.9 - 4.0) + (2.0 - 2.0)) / 2, 1e-6);
  EXPECT_NEAR(g.effect[1], ((0.5 - 4.0) + (1.0 - 2.0)) / 2, 1e-6);
  EXPECT_NEAR(g.fraction_recovered[1], (6.0 - 1.5) / 6.0, 1e-6);  // (clean - ablated) / clean
  EXPECT_NEAR(g.fraction_per_prompt[0][2], (4.0 - 4.2) / 4.0, 1e-6);
  EXPECT_EQ(fraction_name(a), "fraction_of_clean_removed");
  EXPECT_EQ(ranked_by(a, g), "|mean - clean baseline|");
  const auto top = top_components(a, g, 2);
  ASSERT_EQ(top.size(), 2u);
  EXPECT_EQ(top[0].cell, 1);  // the head that matters, though its ablated metric is smallest
  EXPECT_EQ(top[1].cell, 2);
  // normalise: false keeps the effect and drops the fraction.
  const Aggregates raw = aggregate(a, false);
  EXPECT_FALSE(raw.has_fraction);
  EXPECT_NEAR(raw.effect[1], g.effect[1], 1e-7);
}

// A quantity axis (logit lens): each quantity ranked on its own, ranks smallest first, token
// ids never ranked and summarised by their most common value, not a mean.
TEST(ReportAggregate, QuantitiesRankAloneAndTokenIdsAreNeverAveraged) {
  AnalysisInput a;
  a.name = "lens", a.kind = "logit_lens", a.metric = "logit_diff";
  a.axes = {{"layer", 2, {}, {}}, {"quantity", 3, {"prob", "rank", "top_token"}, {0, 2, 4}}};
  a.quantity_axis = 1;
  a.quantities = {{"probability", true, Ranking::Magnitude, false},
                  {"rank", true, Ranking::Smallest, false},
                  {"top token", false, Ranking::Never, true}};
  // layer 0: prob .1, rank 900, token 7 | 9 | 9; layer 1: prob .8, rank 0, token 5 | 5 | 6
  a.values = {{0.1f, 900, 7, 0.8f, 0, 5}, {0.1f, 900, 9, 0.8f, 0, 5}, {0.1f, 900, 9, 0.8f, 0, 6}};
  a.done.assign(3, std::vector<uint8_t>(6, 1));
  const Aggregates g = aggregate(a);
  EXPECT_EQ(g.mean[2], 9.0f);  // the mode, not 8.33
  EXPECT_EQ(g.mean[5], 5.0f);
  EXPECT_TRUE(std::isnan(g.effect[2]));
  const auto top = top_components(a, g, 1);
  ASSERT_EQ(top.size(), 2u);  // one per ranked quantity
  EXPECT_EQ(top[0].label, "layer 1, quantity prob");
  EXPECT_EQ(top[1].label, "layer 1, quantity rank");  // rank 0 beats rank 900
}

TEST(ReportAggregate, ValidateNamesTheProblem) {
  ReduceInput in = sample_input();
  in.analyses[1].values[2].pop_back();
  EXPECT_EQ(csweep::testing::error_of([&] { validate(in, "STORE"); }),
            "STORE: analysis 'resid_tracing': prompt 2 has 11 values, expected 12");
  in = sample_input();
  in.analyses[0].clean_baseline.pop_back();
  EXPECT_THROW(validate(in, "STORE"), Error);
  in = sample_input();
  in.analyses[2].axes[0].labels.pop_back();
  EXPECT_THROW(validate(in, "STORE"), Error);
}

// The SAE feature search's reduce from per-context rows [feature, quantity]: top contexts by max
// activation with ties to the earlier context, only contexts where the feature fires, only
// contexts whose cells of the feature are all done; histogram and fires summed; density over
// the counted contexts' tokens.
TEST(ReportFeatureSearch, TopContextsHistogramAndDensityFromTheRows) {
  ReduceInput in;
  for (int p = 0; p < 3; ++p) in.prompts.push_back({"ctx" + std::to_string(p)});
  for (auto& p : in.prompts) p.clean_ids = {40, 41, 42, 43};
  AnalysisInput a;
  a.name = "search";
  a.kind = kFeatureSearchKind;
  AxisInfo quantity{"quantity", 15, {"max", "argmax", "fires"}, {}};
  for (int b = 0; b < 12; ++b) quantity.labels.push_back(model::sae_bins::bin_name(b));
  a.axes = {{"feature", 2, {"7", "9"}, {7, 9}}, quantity};
  auto row = [](float max, float argmax, float fires, int bin, int bin2) {
    std::vector<float> r(15, 0.0f);
    r[0] = max, r[1] = argmax, r[2] = fires;
    if (bin >= 0) r[3 + bin] += 1;
    if (bin2 >= 0) r[3 + bin2] += 1;
    return r;
  };
  const std::vector<float> silent = row(0, 0, 0, -1, -1);
  auto context = [&](const std::vector<float>& f7, const std::vector<float>& f9) {
    std::vector<float> v = f7;
    v.insert(v.end(), f9.begin(), f9.end());
    return v;
  };
  a.values = {context(row(2.0f, 1, 2, 7, 6), silent),   // feature 7: 2.0 at pos 1, 1.5 too
              context(row(2.0f, 3, 1, 7, -1), silent),  // the same max: ranks after ctx0
              context(row(5.0f, 0, 1, 8, -1), silent)};
  a.done.assign(3, std::vector<uint8_t>(30, 1));
  a.done[2][15 + 4] = 0;  // feature 9's cells of ctx2 not all done: ctx2 not counted for it
  const FeatureSearch s = feature_search(in, a, 2);
  EXPECT_EQ(s.features, (std::vector<int64_t>{7, 9}));
  ASSERT_EQ(s.top[0].size(), 2u);
  EXPECT_EQ(s.top[0][0].prompt, 2);
  EXPECT_EQ(s.top[0][0].activation, 5.0f);
  EXPECT_EQ(s.top[0][1].prompt, 0);  // the tie goes to the earlier context
  EXPECT_EQ(s.top[0][1].position, 1);
  EXPECT_TRUE(s.top[1].empty());  // feature 9 never fires
  EXPECT_EQ(s.contexts, (std::vector<int64_t>{3, 2}));
  EXPECT_EQ(s.tokens, (std::vector<int64_t>{12, 8}));
  EXPECT_EQ(s.fires, (std::vector<int64_t>{4, 0}));
  EXPECT_DOUBLE_EQ(s.density[0], 4.0 / 12.0);
  EXPECT_EQ(s.density[1], 0.0);
  EXPECT_EQ(s.histogram[6], 1);
  EXPECT_EQ(s.histogram[7], 2);
  EXPECT_EQ(s.histogram[8], 1);
  a.axes[1].labels[2] = "fire";
  EXPECT_EQ(csweep::testing::error_of([&] { feature_search(in, a, 2); }),
            "search: quantity: no \"fires\" entry");
}

}  // namespace
}  // namespace csweep::report
