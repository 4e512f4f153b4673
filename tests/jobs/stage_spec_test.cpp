// `from:` read from YAML: the stage's cell count (chosen source cells x the axes the source
// lacks), its canonical form, and one-line file:line:column errors for every bad stage.
#include "tests/jobs/job_test_util.h"

namespace csweep::jobs::testing {
namespace {

constexpr const char* kAtp =
    "  - {name: atp, kind: attribution_patching, sites: [attn.hook_z], patch: per_position}\n";
constexpr const char* kHeads =
    "  - {name: heads, kind: attribution_patching, sites: [attn.hook_z], patch: all_positions}\n";

TEST(StageSpec, CellsAreChosenSourceCellsTimesTheAxesTheSourceLacks) {
  const JobSpec spec = parse_job_spec(
      analysis_job(std::string(kAtp) + kHeads +
                   "  - {name: exact, kind: activation_patching, sites: [attn.hook_z], patch: "
                   "per_position, from: {analysis: atp, top_k: 5, plus_random: 3, seed: 9}}\n"
                   "  - {name: refine, kind: activation_patching, sites: [attn.hook_z], patch: "
                   "per_position, from: {analysis: heads, top_k: 2}}\n"
                   "  - {name: all, kind: ablation, target: heads, from: {analysis: heads, "
                   "top_k: 50}}"),
      job_path());
  ASSERT_EQ(spec.analyses.size(), 5u);
  const StageSpec& exact = spec.analyses[2].stage.value();
  EXPECT_EQ(exact.source, 0u);
  EXPECT_EQ(exact.source_cells, 3 * 8 * 4);  // layer x pos x head of the fixture
  EXPECT_EQ(exact.cells, 8);
  EXPECT_EQ(exact.seed, 9u);
  const StageSpec& refine = spec.analyses[3].stage.value();
  EXPECT_EQ(refine.source_cells, 12);  // 3 layers x 4 heads
  EXPECT_EQ(refine.cells, 2 * 8);      // each chosen head at its 8 positions
  EXPECT_EQ(refine.seed, spec.seed);
  EXPECT_EQ(spec.analyses[4].stage->cells, 12);  // top_k beyond the source: every cell
  EXPECT_FALSE(spec.analyses[0].stage);
  EXPECT_EQ(canonical_json(spec)["analyses"][2]["from"].dump(),
            R"({"analysis":"atp","plus_random":3,"seed":9,"top_k":5})");
  EXPECT_FALSE(canonical_json(spec)["analyses"][0].contains("from"));
}

TEST(StageSpec, AStageOfAStageRanksTheCellsItsSourceRan) {
  const JobSpec spec = parse_job_spec(
      analysis_job(std::string(kHeads) +
                   "  - {name: h, kind: activation_patching, sites: [attn.hook_z], patch: "
                   "all_positions, from: {analysis: heads, top_k: 3, plus_random: 1}}\n"
                   "  - {name: p, kind: activation_patching, sites: [attn.hook_z], patch: "
                   "per_position, from: {analysis: h, top_k: 2}}"),
      job_path());
  EXPECT_EQ(spec.analyses[1].stage->cells, 4);
  EXPECT_EQ(spec.analyses[2].stage->source_cells, 4);
  EXPECT_EQ(spec.analyses[2].stage->cells, 2 * 8);
}

TEST(StageSpec, ErrorsNameFileLineColumnAndField) {
  const std::string patch =
      "  - {name: x, kind: activation_patching, sites: [attn.hook_z], patch: per_position, ";
  auto error = [&](const std::string& from) {
    return parse_error(analysis_job(std::string(kAtp) + patch + from + "}"));
  };
  // Line 10 is the stage's line (the analyses start on line 9).
  const auto at10 = [&](const std::string& from, const std::string& value,
                        const std::string& reason) {
    return at(10, static_cast<int>((patch + from).find(value)) + 1, reason);
  };
  std::string from = "from: {analysis: nope, top_k: 3}";
  EXPECT_EQ(error(from), at10(from, "nope",
                              "analyses[1].from.analysis: no earlier analysis is "
                              "named \"nope\""));
  from = "from: {analysis: atp}";
  EXPECT_EQ(error(from), at10(from, "{analysis", "analyses[1].from.top_k: missing"));
  from = "from: {analysis: atp, top_k: 0}";
  EXPECT_EQ(error(from), at10(from, "0}", "analyses[1].from.top_k: must be at least 1, got 0"));
  from = "from: {analysis: atp, top_k: 2, plus_random: -1}";
  EXPECT_EQ(error(from),
            at10(from, "-1", "analyses[1].from.plus_random: must be at least 0, got -1"));
  from = "from: {analysis: atp, top_k: 2, tpo_k: 1}";
  EXPECT_NE(error(from).find("unknown key \"tpo_k\""), std::string::npos) << error(from);
  from = "from: atp";
  EXPECT_NE(error(from).find("analyses[1].from: expected a map"), std::string::npos) << error(from);
  // The source's axes must all be the stage's, with the same entries.
  const std::string by_head =
      "  - {name: x, kind: activation_patching, sites: [attn.hook_z], patch: all_positions, "
      "from: {analysis: atp, top_k: 2}}";
  EXPECT_EQ(parse_error(analysis_job(std::string(kAtp) + by_head)),
            at(10, static_cast<int>(by_head.find("atp, top")) + 1,
               "analyses[1].from.analysis: \"atp\" has axis pos [0,1,2,3,4,5,6,7]; this analysis "
               "has no pos axis (a stage's grid must hold every axis of its source's, with the "
               "same entries)"));
  const std::string fewer_layers =
      "  - {name: x, kind: activation_patching, sites: [attn.hook_z], patch: per_position, "
      "layers: [0, 1], from: {analysis: atp, top_k: 2}}";
  EXPECT_NE(parse_error(analysis_job(std::string(kAtp) + fewer_layers))
                .find("\"atp\" has axis layer [0,1,2]; this analysis has layer [0,1]"),
            std::string::npos);
  const std::string lens = "  - {name: x, kind: logit_lens, from: {analysis: atp, top_k: 2}}";
  EXPECT_NE(parse_error(analysis_job(std::string(kAtp) + lens))
                .find("analyses[1].from: kind logit_lens cannot run on chosen cells"),
            std::string::npos);
}

// receivers: {chosen: ...}: a leading receiver axis, a slot per top_k + plus_random and input
// (+ the logits), so the stage computes every chosen sender -> chosen receiver pair.
TEST(StageSpec, PathPatchingBetweenChosenHeadsHasASlotPerChosenHeadAndInput) {
  const std::string paths =
      "  - {name: paths, kind: path_patching, receivers: {chosen: [k, v], logits: true}, "
      "from: {analysis: heads, top_k: 2, plus_random: 1}}";
  const JobSpec spec = parse_job_spec(analysis_job(std::string(kHeads) + paths), job_path());
  const AnalysisSpec& a = spec.analyses[1];
  const std::vector<Axis> grid = a.kind->grid(a);
  ASSERT_EQ(grid.size(), 3u);
  EXPECT_EQ(grid[0].name, "receiver");
  EXPECT_EQ(grid[0].labels,
            (std::vector<std::string>{"#0.k", "#0.v", "#1.k", "#1.v", "#2.k", "#2.v", "logits"}));
  EXPECT_EQ(a.stage->cells, 3 * 7);  // 3 chosen senders x 7 receivers
  EXPECT_EQ(canonical_json(spec)["analyses"][1]["options"]["receivers"].dump(),
            R"({"chosen":["k","v"],"logits":true,"slots":3})");
  // Without from:, more slots than heads, or a source that does not rank whole heads.
  const std::string lone = "  - {name: paths, kind: path_patching, receivers: {chosen: [q]}}";
  EXPECT_NE(parse_error(analysis_job(std::string(kHeads) + lone))
                .find("analyses[1].receivers: the chosen heads are a stage's"),
            std::string::npos)
      << parse_error(analysis_job(std::string(kHeads) + lone));
  const std::string many =
      "  - {name: paths, kind: path_patching, receivers: {chosen: [q]}, "
      "from: {analysis: heads, top_k: 12, plus_random: 1}}";
  EXPECT_EQ(parse_error(analysis_job(std::string(kHeads) + many)),
            at(10, static_cast<int>(many.find("12")) + 1,
               "analyses[1].from: top_k + plus_random is 13, \"heads\" has 12 heads (receivers: "
               "{chosen: ...} has a slot for each)"));
  const std::string per_position =
      "  - {name: paths, kind: path_patching, positions: all, receivers: {chosen: [q]}, "
      "from: {analysis: atp, top_k: 2}}";
  EXPECT_NE(parse_error(analysis_job(std::string(kAtp) + per_position))
                .find("\"atp\" does not rank whole heads"),
            std::string::npos)
      << parse_error(analysis_job(std::string(kAtp) + per_position));
}

}  // namespace
}  // namespace csweep::jobs::testing
