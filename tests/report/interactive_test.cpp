// report.html's interactive views from the C++ side: the JSON each view reads (values, labels,
// prompt budget, escaping), the choice of top heads and the patterns written to sweep.h5.
// tests/report/interactive_report_test.py checks the page itself in headless Chromium.
#include <cmath>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "report/aggregate.h"
#include "report/attention_patterns.h"
#include "report/interactive.h"
#include "report/reduce.h"
#include "sample_input.h"
#include "test_util.h"

namespace csweep::report {
namespace {

using nlohmann::json;
using testing::sample_input;

json heatmap(const ReduceInput& in, size_t analysis) {
  const Aggregates g = aggregate(in.analyses[analysis]);
  const std::string text = heatmap_json(in, in.analyses[analysis], g);
  return json::parse(text);
}

TEST(InteractiveReport, HeatmapJsonHoldsTheAggregatesAndEveryPromptsValues) {
  const ReduceInput in = sample_input();
  const AnalysisInput& a = in.analyses[0];  // layer x pos x head, prompt 2 half done
  const Aggregates g = aggregate(a);
  const json j = heatmap(in, 0);
  ASSERT_EQ(j["stats"]["mean"].size(), static_cast<size_t>(a.cells()));
  for (int64_t c = 0; c < a.cells(); ++c) {
    EXPECT_EQ(j["stats"]["mean"][c].get<float>(), g.mean[c]) << c;  // the float32, exactly
    EXPECT_EQ(j["stats"]["n"][c].get<int>(), g.n_done[c]);
  }
  ASSERT_EQ(j["per_prompt"].size(), 3u);
  EXPECT_EQ(j["per_prompt"][1][5].get<float>(), a.values[1][5]);
  EXPECT_TRUE(j["per_prompt"][2][a.cells() - 1].is_null());  // not done: null, not a number
  EXPECT_EQ(j["prompts"], json({"p0", "p1", "p2"}));
  // Layers down, heads across, the position on a slider whose labels follow each prompt.
  EXPECT_EQ(j["row"], 0);
  EXPECT_EQ(j["col"], 2);
  EXPECT_EQ(j["col_choices"], json({2, 1}));
  EXPECT_EQ(j["axes"][1]["role"], "pos");
  EXPECT_EQ(j["axes"][1]["prompt_labels"][1][1], "3: Bob");
  EXPECT_EQ(j["axes"][1]["prompt_labels"][2][1], "3: Tim");
  // Patching has baselines: the fraction (fixed range 1) is offered first, then the mean.
  EXPECT_EQ(j["views"][0]["key"], "fraction");
  EXPECT_EQ(j["views"][0]["limit"], 1);
  EXPECT_EQ(j["views"][1]["key"], "mean");
}

TEST(InteractiveReport, NamedAxesAreSelectorsNotGridAxes) {
  const json j = heatmap(sample_input(), 2);  // site x layer
  EXPECT_EQ(j["axes"][0]["role"], "named");
  EXPECT_EQ(j["row"], 1);  // layers alone: one column, layers down
  EXPECT_EQ(j["col"], -1);
  const json r = heatmap(sample_input(), 1);  // layer x pos
  EXPECT_EQ(r["row"], 0);
  EXPECT_EQ(r["col"], 1);
}

TEST(InteractiveReport, PromptsPastTheBudgetAreLeftOutAndSaid) {
  ReduceInput in = sample_input();
  AnalysisInput& a = in.analyses[1];                       // layer x pos, 12 cells
  a.axes = {AxisInfo{"layer", 80000, {}, {}}, a.axes[1]};  // 240000 cells
  for (auto& v : a.values) v.assign(a.cells(), 1.0f);
  for (auto& d : a.done) d.assign(a.cells(), 1);
  const json j = heatmap(in, 1);
  const size_t fit = static_cast<size_t>(kMaxEmbeddedValues / a.cells());
  EXPECT_EQ(fit, 1u);
  EXPECT_EQ(j["per_prompt"].size(), fit);
  EXPECT_EQ(j["prompts"].size(), fit);
  EXPECT_NE(j["prompts_note"].get<std::string>().find("every prompt is in sweep.h5"),
            std::string::npos);
}

TEST(InteractiveReport, JsonCannotCloseItsScriptTag) {
  ReduceInput in = sample_input();
  in.prompts[0].id = "</script><script>alert(1)</script>";
  const AnalysisInput& a = in.analyses[0];
  const std::string text = heatmap_json(in, a, aggregate(a));
  EXPECT_EQ(text.find('<'), std::string::npos);
  EXPECT_EQ(json::parse(text)["prompts"][0], in.prompts[0].id);
}

TEST(InteractiveReport, TopHeadsAreDistinctAndSayWhereTheyRank) {
  const ReduceInput in = sample_input();
  std::vector<std::vector<TopComponent>> top;
  for (const auto& a : in.analyses) top.push_back(top_components(a, aggregate(a), 20));
  const auto heads = top_heads(in, top);
  ASSERT_EQ(heads.size(), kPatternHeadsPerAnalysis);  // only head_patching has a head axis
  for (size_t i = 0; i < heads.size(); ++i)
    for (size_t k = 0; k < i; ++k)
      EXPECT_FALSE(heads[i].layer == heads[k].layer && heads[i].head == heads[k].head);
  EXPECT_EQ(heads[0].why, "head_patching #1");
}

TEST(InteractiveReport, PatternsComeFromTheSourceOnTheFirstPromptAndReachPageAndSweepH5) {
  const ReduceInput in = sample_input();
  std::vector<int64_t> seen;
  ReduceOptions options;
  options.attention_patterns = [&](const std::vector<int64_t>& ids,
                                   const std::vector<HeadRef>& heads) {
    seen = ids;
    std::vector<std::vector<float>> out;
    const size_t n = ids.size();
    for (size_t h = 0; h < heads.size(); ++h) {
      std::vector<float> p(n * n, 0.0f);
      for (size_t q = 0; q < n; ++q) p[q * n + (q + h) % (q + 1)] = 1.0f;  // one key per query
      out.push_back(p);
    }
    return out;
  };
  const auto dir = testing::fresh_dir("interactive-patterns");
  const ReduceOutputs out = reduce(in, dir, options);
  EXPECT_EQ(seen, in.prompts[0].clean_ids);
  const std::string html = testing::read_text(out.report_html);
  EXPECT_NE(html.find("<div class=\"csw-patterns\"><script"), std::string::npos);
  EXPECT_NE(html.find("Attention patterns of the top heads"), std::string::npos);
  EXPECT_EQ(html.find("<script src"), std::string::npos);  // self-contained
  EXPECT_NE(html.find(report_script().substr(0, 200)), std::string::npos);
  const auto r = testing::run_command(
      "/usr/bin/python3 -c \"import h5py,sys; f=h5py.File(sys.argv[1]); g=f['attention_patterns'];"
      " print(g.attrs['prompt'], g['pattern'].shape, list(g['layer'][()]), list(g['head'][()]),"
      " g['pattern'][1,5,0])\" " +
      out.sweep_h5.string());
  ASSERT_EQ(r.status, 0) << r.output;
  std::vector<std::vector<TopComponent>> top;
  for (const auto& a : in.analyses)
    top.push_back(top_components(a, aggregate(a, in.normalise), static_cast<int>(in.top_k)));
  std::string layers, heads;
  for (const auto& h : top_heads(in, top)) {
    layers += (layers.empty() ? "" : ", ") + std::to_string(h.layer);
    heads += (heads.empty() ? "" : ", ") + std::to_string(h.head);
  }
  EXPECT_EQ(r.output, "p0 (3, 6, 6) [" + layers + "] [" + heads + "] 1.0\n") << r.output;
}

TEST(InteractiveReport, NoSourceOrNoPatternsMeansNoPatternView) {
  const ReduceInput in = sample_input();
  ReduceOptions options;
  options.attention_patterns = [](const std::vector<int64_t>&, const std::vector<HeadRef>&) {
    return std::vector<std::vector<float>>{};  // e.g. the model folder is not here
  };
  const auto dir = testing::fresh_dir("interactive-no-patterns");
  const ReduceOutputs out = reduce(in, dir, options);
  const std::string html = testing::read_text(out.report_html);
  EXPECT_EQ(html.find("<div class=\"csw-patterns\"><script"), std::string::npos);
  EXPECT_NE(html.find("<div class=\"csw-heatmap\" data-analysis=\"head_patching\"><script"),
            std::string::npos);
}

}  // namespace
}  // namespace csweep::report
