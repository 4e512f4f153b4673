// The SAE feature rows read from YAML: the grid [feature, pos] labelled by feature id, the SAE
// folder resolved against the job file and checked against the model, and one-line
// file:line:column refusals naming the field.
#include "jobs/kinds/sae_options.h"
#include "tests/jobs/job_test_util.h"

namespace csweep::jobs::testing {
namespace {

std::string error_at(const std::string& line, const std::string& value, const std::string& reason) {
  return analysis_error_at(line, value, reason);
}
std::string sae_dir(const std::string& relative) {
  return (job_path().parent_path() / relative).string();
}

TEST(SaeKind, GridIsFeatureByPositionLabelledByFeatureId) {
  const JobSpec spec = parse_job_spec(
      analysis_job(
          "  - {name: s, kind: sae_feature_patching, sae: models/induction-2l-sae, features: [5, "
          "0-2], positions: [0, 7]}"),
      job_path());
  const AnalysisSpec& a = spec.analyses.at(0);
  ASSERT_EQ(a.kind, find_kind("sae_feature_patching"));
  const std::vector<Axis> axes = a.kind->grid(a);
  ASSERT_EQ(axes.size(), 2u);
  EXPECT_EQ(axes[0].name, "feature");
  EXPECT_EQ(axes[0].values, (std::vector<int64_t>{0, 1, 2, 5}));
  EXPECT_EQ(axes[0].labels, (std::vector<std::string>{"0", "1", "2", "5"}));
  EXPECT_EQ(axes[1].name, "pos");
  EXPECT_EQ(axes[1].values, (std::vector<int64_t>{0, 7}));
  EXPECT_EQ(a.layers, std::vector<int64_t>{1});  // the SAE's blocks.1.hook_resid_pre
  const auto& o = a.options_as<SaeFeatureOptions>();
  EXPECT_EQ(o.folder, job_path().parent_path() / "models/induction-2l-sae");
  const auto options = canonical_json(spec)["analyses"][0]["options"];
  EXPECT_EQ(options["sae"], "models/induction-2l-sae");
  EXPECT_EQ(options["hook_name"], "blocks.1.hook_resid_pre");
  EXPECT_EQ(options["direction"], "denoising");
  EXPECT_EQ(options["files_sha256"].get<std::string>().size(), 64u);
  EXPECT_EQ(a.kind->reduce.baselines, Baselines::Fraction);
  EXPECT_TRUE(a.kind->cost(a, model::ModelConfig{}).per_cell_forward);
}

TEST(SaeKind, AblationTakesEveryFeatureAndPositionByDefault) {
  const JobSpec spec = parse_job_spec(
      analysis_job("  - {name: s, kind: sae_feature_ablation, sae: models/induction-2l-sae}"),
      job_path());
  const AnalysisSpec& a = spec.analyses.at(0);
  const std::vector<Axis> axes = a.kind->grid(a);
  EXPECT_EQ(axes[0].size, 128);
  EXPECT_EQ(axes[1].size, 8);
  EXPECT_EQ(a.kind->reduce.baselines, Baselines::Ablation);
  EXPECT_FALSE(canonical_json(spec)["analyses"][0]["options"].contains("direction"));
}

TEST(SaeKind, AttributionIsOnePassPerPromptWithGradients) {
  const JobSpec spec = parse_job_spec(
      analysis_job(
          "  - {name: s, kind: sae_feature_attribution, sae: models/induction-2l-sae, direction: "
          "noising}"),
      job_path());
  const AnalysisSpec& a = spec.analyses.at(0);
  EXPECT_TRUE(a.kind->needs_gradients);
  EXPECT_FALSE(a.kind->cost(a, model::ModelConfig{}).per_cell_forward);
  EXPECT_EQ(a.kind->grid(a)[0].size, 128);
  EXPECT_EQ(canonical_json(spec)["analyses"][0]["options"]["direction"], "noising");
}

TEST(SaeKind, RefusalsNameTheFieldAndTheSaeFile) {
  std::string line = "  - {name: s, kind: sae_feature_ablation, features: [1]}";
  EXPECT_EQ(parse_error(analysis_job(line)),
            error_at(line, "{name",
                     "analyses[0].sae: missing (the SAELens SAE folder: cfg.json "
                     "and sae_weights.safetensors)"));
  line = "  - {name: s, kind: sae_feature_ablation, sae: models/nothing-here}";
  EXPECT_EQ(parse_error(analysis_job(line)),
            error_at(line, "models/nothing",
                     "analyses[0].sae: " + sae_dir("models/nothing-here") +
                         "/cfg.json: cannot open (is this a SAELens SAE folder?)"));
  line = "  - {name: s, kind: sae_feature_ablation, sae: ../tests/model/fixtures/sae/standard}";
  EXPECT_EQ(parse_error(analysis_job(line)),
            error_at(line, "../tests",
                     "analyses[0].sae: " + sae_dir("../tests/model/fixtures/sae/standard") +
                         "/cfg.json: d_in: 16 is not the width of blocks.0.hook_resid_pre in this "
                         "model (64)"));
  line =
      "  - {name: s, kind: sae_feature_ablation, sae: models/induction-2l-sae, features: [3, "
      "128]}";
  EXPECT_EQ(parse_error(analysis_job(line)),
            error_at(line, "128",
                     "analyses[0].features[1]: feature 128 out of range (the SAE "
                     "has 128 features: 0..127)"));
  line = "  - {name: s, kind: sae_feature_ablation, sae: models/induction-2l-sae, layers: [0]}";
  EXPECT_EQ(parse_error(analysis_job(line)),
            error_at(line, "[0]", "analyses[0].layers: the SAE's hook_name fixes the layer"));
  line =
      "  - {name: s, kind: sae_feature_ablation, sae: models/induction-2l-sae, direction: "
      "noising}";
  EXPECT_EQ(parse_error(analysis_job(line)), error_at(line, "direction",
                                                      "unknown key \"direction\" in "
                                                      "analyses[0]"));
}

// The corpus feature search: [feature, quantity] (max, argmax, fires, the fixed histogram bins),
// no metric, one pass per context; `positions` is not a key (a context is read whole).
TEST(SaeKind, FeatureSearchGridIsFeatureByQuantity) {
  const JobSpec spec = parse_job_spec(
      analysis_job(
          "  - {name: s, kind: sae_feature_search, sae: models/induction-2l-sae, features: [2, "
          "9]}"),
      job_path());
  const AnalysisSpec& a = spec.analyses.at(0);
  ASSERT_EQ(a.kind, find_kind("sae_feature_search"));
  EXPECT_FALSE(a.kind->uses_metric);
  const std::vector<Axis> axes = a.kind->grid(a);
  ASSERT_EQ(axes.size(), 2u);
  EXPECT_EQ(axes[0].values, (std::vector<int64_t>{2, 9}));
  EXPECT_EQ(axes[1].name, "quantity");
  ASSERT_EQ(axes[1].size, 15);
  EXPECT_EQ(axes[1].labels[0], "max");
  EXPECT_EQ(axes[1].labels[2], "fires");
  EXPECT_EQ(axes[1].labels[14], "bin_11");
  EXPECT_EQ(axes[1].values[14], 14);
  EXPECT_EQ(a.kind->reduce.quantities.size(), 15u);
  EXPECT_EQ(a.kind->reduce.quantities[14].value_label, "tokens with activation in [32, inf)");
  EXPECT_FALSE(a.kind->cost(a, model::ModelConfig{}).per_cell_forward);
  const std::string line =
      "  - {name: s, kind: sae_feature_search, sae: models/induction-2l-sae, positions: [0]}";
  EXPECT_EQ(parse_error(analysis_job(line)),
            error_at(line, "positions", "unknown key \"positions\" in analyses[0]"));
}

}  // namespace
}  // namespace csweep::jobs::testing
