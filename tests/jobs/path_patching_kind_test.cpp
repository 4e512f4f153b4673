// The path_patching row read from YAML: its grid [layer, (pos,) (head)], canonical options, the
// defaults (head senders, the logits as receiver, heads frozen) and file:line:column errors for
// bad receivers.
#include "tests/jobs/job_test_util.h"

namespace csweep::jobs::testing {
namespace {

TEST(PathPatchingKind, GridAndOptions) {
  const JobSpec spec = parse_job_spec(
      analysis_job(
          "  - {name: p, kind: path_patching, layers: [1, 0], heads: [0, 2], receivers: [2.1.q, "
          "2.0.k, 2.3.v], freeze: heads_and_mlps, receiver_positions: last}"),
      job_path());
  const AnalysisSpec& a = spec.analyses.at(0);
  ASSERT_EQ(a.kind, find_kind("path_patching"));
  const std::vector<Axis> axes = a.kind->grid(a);
  ASSERT_EQ(axes.size(), 2u);
  EXPECT_EQ(axes[0].name, "layer");
  EXPECT_EQ(axes[0].values, (std::vector<int64_t>{0, 1}));
  EXPECT_EQ(axes[1].name, "head");
  EXPECT_EQ(axes[1].values, (std::vector<int64_t>{0, 2}));
  EXPECT_EQ(
      canonical_json(spec)["analyses"][0]["options"].dump(),
      R"({"freeze":"heads_and_mlps","receiver_positions":"last","receivers":["2.1.q","2.0.k","2.3.v"],"senders":"heads"})");
  EXPECT_EQ(a.kind->reduce.baselines, Baselines::Fraction);
  EXPECT_EQ(a.kind->cost(a, model::ModelConfig{}).rows_per_cell, 2);
}

TEST(PathPatchingKind, DefaultsAndMlpSendersByPosition) {
  JobSpec spec = parse_job_spec(analysis_job("  - {name: p, kind: path_patching}"), job_path());
  const AnalysisSpec& d = spec.analyses.at(0);
  std::vector<Axis> axes = d.kind->grid(d);
  ASSERT_EQ(axes.size(), 2u);
  EXPECT_EQ(axes[0].size, 3);  // every layer of the fixture
  EXPECT_EQ(axes[1].size, 4);  // every head
  EXPECT_EQ(
      canonical_json(spec)["analyses"][0]["options"].dump(),
      R"({"freeze":"heads","receiver_positions":"all","receivers":["logits"],"senders":"heads"})");
  EXPECT_EQ(d.kind->cost(d, model::ModelConfig{}).rows_per_cell, 1);

  spec = parse_job_spec(
      analysis_job(
          "  - {name: p, kind: path_patching, senders: mlp, positions: [0, -1], receivers: "
          "[logits]}"),
      job_path());
  const AnalysisSpec& m = spec.analyses.at(0);
  axes = m.kind->grid(m);
  ASSERT_EQ(axes.size(), 2u);
  EXPECT_EQ(axes[0].name, "layer");
  EXPECT_EQ(axes[1].name, "pos");
  EXPECT_EQ(axes[1].values, (std::vector<int64_t>{0, 7}));
}

TEST(PathPatchingKind, ErrorsNameFileLineColumnAndField) {
  EXPECT_EQ(
      parse_error(
          analysis_job("  - {name: p, kind: path_patching, receivers: [2.1.x, 3.0.q, 2.4.q, 1.0.k, "
                       "1.0.k]}")),
      at(9, 48,
         "analyses[0].receivers[0]: \"2.1.x\" is neither logits nor layer.head.q|k|v (e.g. "
         "5.1.k)") +
          "\n" +
          at(9, 55, "analyses[0].receivers[1]: layer 3 out of range (model has 3 layers: 0..2)") +
          "\n" +
          at(9, 62, "analyses[0].receivers[2]: head 4 out of range (model has 4 heads: 0..3)") +
          "\n" + at(9, 76, "analyses[0].receivers[4]: \"1.0.k\" listed twice"));
  EXPECT_EQ(
      parse_error(analysis_job("  - {name: p, kind: path_patching, receivers: [logits, 2.0.q]}")),
      at(9, 47,
         "analyses[0].receivers: logits is a receiver of its own: give [logits] or heads' "
         "inputs"));
  EXPECT_EQ(parse_error(analysis_job("  - {name: p, kind: path_patching, receivers: []}")),
            at(9, 47, "analyses[0].receivers: empty list (give [logits] or layer.head.q|k|v)"));
  EXPECT_EQ(
      parse_error(analysis_job("  - {name: p, kind: path_patching, senders: mlp, heads: [1]}")),
      at(9, 57, "analyses[0].heads: only senders heads have a head axis"));
  EXPECT_EQ(
      parse_error(analysis_job("  - {name: p, kind: path_patching, receiver_positions: last}")),
      at(9, 56, "analyses[0].receiver_positions: only heads' inputs are patched by position"));
  EXPECT_EQ(parse_error(analysis_job("  - {name: p, kind: path_patching, freeze: mlps}")),
            at(9, 44,
               "analyses[0].freeze: unknown value \"mlps\"; expected one of heads, "
               "heads_and_mlps"));
}

}  // namespace
}  // namespace csweep::jobs::testing
