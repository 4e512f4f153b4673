// True labels, scales and top-k content (issue 14 items 2 and 4), end to end: `csweep run` of
// ablation, logit lens and attention scores on the gpt2-tiny fixture, `csweep reduce`, and
// sweep.h5 read back with h5py. And model.process_weights (item 5) reaching the workers: the
// fixture's TransformerLens tables for processed weights.
#include <cmath>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "test_util.h"

namespace csweep::report {
namespace {

using json = nlohmann::json;
using csweep::testing::csweep_bin;
using testing::fresh_dir;
using testing::run_command;

std::string job_text(int top_k) {
  return "name: labels\nmodel:\n  path: " + csweep::testing::shared_fixture("gpt2-tiny").string() +
         R"(
prompts:
  - id: fixture
    clean: [201, 888, 641, 766, 85, 445, 885, 339]
    corrupted: [201, 888, 45, 766, 85, 122, 885, 339]
    answer: 613
    wrong: 486
metric: logit_diff
analyses:
  - {name: zero_heads, kind: ablation, method: zero, target: heads}
  - {name: lens, kind: logit_lens, quantities: [prob, rank, logit_diff, top_token]}
  - {name: scores, kind: attention_scores}
reduce:
  top_k: )" +
         std::to_string(top_k) + "\n";
}

class ReportLabels : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    const auto dir = fresh_dir("labels");
    std::ofstream(dir / "job.yaml") << job_text(3);
    store_ = new std::filesystem::path(dir / "store");
    auto r = run_command(csweep_bin() + " run " + (dir / "job.yaml").string() + " --store " +
                         store_->string());
    ASSERT_EQ(r.status, 0) << r.output;
    r = run_command(csweep_bin() + " reduce " + store_->string());
    ASSERT_EQ(r.status, 0) << r.output;
    r = run_command("/usr/bin/python3 " +
                    csweep::testing::source_path("tests/report/read_sweep_h5.py").string() + " " +
                    (*store_ / "sweep.h5").string() + " 2>&1");
    ASSERT_EQ(r.status, 0) << r.output;
    h5_ = new json(json::parse(r.output));
  }
  static void TearDownTestSuite() {
    delete store_;
    delete h5_;
  }
  static const json& analysis(const std::string& name) { return (*h5_)["analyses"][name]; }
  static std::filesystem::path* store_;
  static json* h5_;
};
std::filesystem::path* ReportLabels::store_ = nullptr;
json* ReportLabels::h5_ = nullptr;

// An analysis without a metric is never labelled with the job's metric.
TEST_F(ReportLabels, AttentionScoresAreNotLabelledWithTheJobsMetric) {
  ASSERT_NE(h5_, nullptr);
  const json& s = analysis("scores");
  EXPECT_EQ(s["attrs"]["metric"], "attention score (mean attention weight)");
  EXPECT_EQ(s["attrs"]["quantity_axis"], "score");
  // Top-k per score: reduce.top_k (3) heads for each of the three scores, each ranked alone.
  ASSERT_EQ(s["top_k"]["label"].size(), 9u);
  EXPECT_EQ(s["top_k"]["label"][0].get<std::string>().rfind("score previous_token, ", 0), 0u);
  EXPECT_EQ(s["top_k"]["label"][3].get<std::string>().rfind("score duplicate_token, ", 0), 0u);
  EXPECT_EQ(s["top_k"]["label"][6].get<std::string>().rfind("score induction, ", 0), 0u);
}

// Logit-lens quantities: one figure each with its own units; the top token as text only;
// top-k ranks layers, never token ids, and ranks "rank" smallest first.
TEST_F(ReportLabels, LogitLensQuantitiesHaveTheirOwnScalesAndTheTopTokenIsText) {
  ASSERT_NE(h5_, nullptr);
  const json& lens = analysis("lens");
  EXPECT_EQ(lens["attrs"]["quantity_units"],
            json({"probability of the answer", "rank of the answer (0 = top)",
                  "logit(answer) - logit(wrong)", "top token"}));
  for (const char* q : {"prob", "rank", "logit_diff"})
    EXPECT_TRUE(
        std::filesystem::exists(*store_ / "heatmaps" / ("lens_" + std::string(q) + "_mean.png")))
        << q;
  EXPECT_FALSE(std::filesystem::exists(*store_ / "heatmaps" / "lens_top_token_mean.png"));
  EXPECT_FALSE(std::filesystem::exists(*store_ / "heatmaps" / "lens_mean.png"));
  const json& text = lens["datasets"]["top_token_text"];
  EXPECT_EQ(text["dims"].size(), 2u);  // [prompt, layer]
  ASSERT_EQ(text["values"][0].size(), 3u);
  EXPECT_FALSE(text["values"][0][2].get<std::string>().empty());
  EXPECT_EQ(lens["datasets"]["top_token_mode_text"]["values"][2], text["values"][0][2]);
  const json& labels = lens["top_k"]["label"];
  ASSERT_EQ(labels.size(), 9u);  // 3 per ranked quantity; top_token is not ranked
  for (const auto& l : labels)
    EXPECT_EQ(l.get<std::string>().find("top_token"), std::string::npos) << l;
  const json& mean = lens["top_k"]["mean"];
  EXPECT_LE(mean[3].get<double>(), mean[4].get<double>());  // rank: smallest first
  const std::string html = testing::read_text(*store_ / "report.html");
  EXPECT_NE(html.find("top token (most common over prompts)"), std::string::npos);
}

// Ablation records its clean baseline; the effect is ablated - clean, the fraction is of the
// clean metric removed, and top-k lists the heads whose ablation changes the metric most.
TEST_F(ReportLabels, AblationReportsItsEffectFromTheCleanRun) {
  ASSERT_NE(h5_, nullptr);
  const json& abl = analysis("zero_heads");
  EXPECT_EQ(abl["attrs"]["metric"], "logit_diff after ablation");
  const double clean = abl["datasets"]["clean_baseline"]["values"][0].get<double>();
  // The clean run's logit difference is also the logit lens's readout at the last layer.
  const json& lens_mean = analysis("lens")["datasets"]["mean"]["values"];
  EXPECT_NEAR(clean, lens_mean[2][2].get<double>(), 1e-4);
  const json& mean = abl["datasets"]["mean"]["values"];
  const json& effect = abl["datasets"]["effect"]["values"];
  const json& fraction = abl["datasets"]["fraction_of_clean_removed"]["values"];
  double largest = 0;
  for (size_t l = 0; l < mean.size(); ++l)
    for (size_t h = 0; h < mean[l].size(); ++h) {
      const double m = mean[l][h].get<double>();
      EXPECT_NEAR(effect[l][h].get<double>(), m - clean, 1e-5);
      EXPECT_NEAR(fraction[l][h].get<double>(), (clean - m) / clean, 1e-5);
      largest = std::max(largest, std::fabs(m - clean));
    }
  ASSERT_EQ(abl["top_k"]["effect"].size(), 3u);
  EXPECT_NEAR(std::fabs(abl["top_k"]["effect"][0].get<double>()), largest, 1e-5);
  EXPECT_TRUE(
      std::filesystem::exists(*store_ / "heatmaps" / "zero_heads_fraction_of_clean_removed.png"));
  // csweep validate's top_head ranks an ablation by the same effect.
  const auto dir = store_->parent_path();
  const int64_t layer = abl["top_k"]["layer"][0], head = abl["top_k"]["head"][0];
  std::ofstream(dir / "validation.yaml")
      << testing::read_text(*store_ / "spec.yaml")
      << "validation:\n  assertions:\n    - {analysis: zero_heads, expect: top_head, layer: "
      << layer << ", head: " << head << "}\n";
  const auto r = run_command(csweep_bin() + " run " + (dir / "validation.yaml").string() +
                             " --store " + (dir / "vstore").string() + " && " + csweep_bin() +
                             " validate " + (dir / "vstore").string());
  EXPECT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("PASS assertion 0 (zero_heads top_head)"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("max |mean - clean baseline|"), std::string::npos) << r.output;
}

json run_and_read(const std::string& name, const std::string& yaml) {
  const auto dir = fresh_dir(name);
  std::ofstream(dir / "job.yaml") << yaml;
  auto r = run_command(csweep_bin() + " run " + (dir / "job.yaml").string() + " --store " +
                       (dir / "store").string());
  EXPECT_EQ(r.status, 0) << r.output;
  r = run_command(csweep_bin() + " reduce " + (dir / "store").string());
  EXPECT_EQ(r.status, 0) << r.output;
  r = run_command("/usr/bin/python3 " +
                  csweep::testing::source_path("tests/report/read_sweep_h5.py").string() + " " +
                  (dir / "store" / "sweep.h5").string() + " 2>&1");
  EXPECT_EQ(r.status, 0) << r.output;
  return r.status == 0 ? json::parse(r.output) : json();
}

double max_abs_diff(const json& got, const json& want) {
  double worst = 0;
  for (size_t i = 0; i < want.size(); ++i)
    for (size_t j = 0; j < want[i].size(); ++j)
      worst = std::max(worst, std::fabs(got[i][j].get<double>() - want[i][j].get<double>()));
  return worst;
}

// model.process_weights: true gives TransformerLens's from_pretrained numbers (zero-ablation
// of z and DLA per head, the fixture's `processed` tables) and leaves the logits unchanged.
TEST(ReportProcessWeights, WorkersComputeOnTransformerLensProcessedWeights) {
  std::ifstream in(csweep::testing::shared_fixture("gpt2-tiny") / "reference.json");
  const json ref = json::parse(in);
  std::string yaml = job_text(3);
  yaml.replace(yaml.find("\nprompts:"), 0, "\n  process_weights: true");
  yaml.replace(yaml.find("analyses:"), std::string("analyses:").size(),
               "analyses:\n  - {name: dla, kind: direct_logit_attribution, components: heads}");
  const json h5 = run_and_read("process-weights", yaml);
  ASSERT_TRUE(h5.contains("analyses"));
  const json& zero = h5["analyses"]["zero_heads"]["datasets"]["mean"]["values"];
  const json& dla = h5["analyses"]["dla"]["datasets"]["mean"]["values"];
  const double zero_err = max_abs_diff(zero, ref["processed"]["zero_ablate_head_z"]);
  const double dla_err = max_abs_diff(dla, ref["processed"]["dla_head"]);
  std::printf("processed zero-ablation max abs error %.3g, DLA %.3g\n", zero_err, dla_err);
  EXPECT_LE(zero_err, 1e-4);
  EXPECT_LE(dla_err, 1e-4);
  EXPECT_GT(max_abs_diff(zero, ref["raw"]["zero_ablate_head_z"]), 1e-2);  // it took effect
  const double clean = h5["analyses"]["zero_heads"]["datasets"]["clean_baseline"]["values"][0];
  EXPECT_NEAR(clean, ref["processed"]["logit_diff_clean"].get<double>(), 1e-4);
  EXPECT_NEAR(clean, ref["raw"]["logit_diff_clean"].get<double>(), 1e-4);  // logits unchanged
}

// Sites outside the blocks, by their TransformerLens names, patched per position: copying the
// clean embedding where the prompts agree changes nothing (the corrupted metric), and the clean
// ln_final output at the last position gives the clean run's logits (the clean metric).
TEST(ReportOutsideBlockSites, EmbedAndLnFinalPatchAsTransformerLensWould) {
  std::string yaml = job_text(3);
  yaml = yaml.substr(0, yaml.find("analyses:")) +
         "analyses:\n  - {name: embed, kind: activation_patching, sites: hook_embed}\n"
         "  - {name: final, kind: activation_patching, sites: ln_final.hook_normalized, "
         "positions: -1}\n";
  const json h5 = run_and_read("outside-blocks", yaml);
  ASSERT_TRUE(h5.contains("analyses"));
  const json& embed = h5["analyses"]["embed"]["datasets"];
  const double corrupted = embed["corrupted_baseline"]["values"][0].get<double>();
  const std::vector<int> same = {0, 1, 3, 4, 6, 7};  // clean and corrupted tokens agree there
  for (int p : same) EXPECT_NEAR(embed["mean"]["values"][p].get<double>(), corrupted, 1e-5) << p;
  EXPECT_GT(std::fabs(embed["mean"]["values"][2].get<double>() - corrupted), 1e-3);
  const json& final = h5["analyses"]["final"]["datasets"];
  EXPECT_EQ(final["mean"]["dims"], json({"pos"}));
  EXPECT_NEAR(final["mean"]["values"][0].get<double>(),
              final["clean_baseline"]["values"][0].get<double>(), 1e-4);
}

}  // namespace
}  // namespace csweep::report
