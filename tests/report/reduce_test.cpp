// reduce() end to end on the sample input: sweep.h5 read back by h5py (/usr/bin/python3),
// heatmaps, and report.html rendered by headless Chromium.
#include <cmath>
#include <regex>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "report/aggregate.h"
#include "report/faithfulness.h"
#include "report/figures.h"
#include "report/reduce.h"
#include "sample_input.h"
#include "test_util.h"
#include "tests/test_paths.h"

namespace csweep::report {
namespace {

using nlohmann::json;
using testing::fresh_dir;
using testing::read_png;
using testing::read_text;
using testing::run_command;
using testing::sample_input;

json read_with_h5py(const std::filesystem::path& file) {
  const auto r = run_command(
      "/usr/bin/python3 " + csweep::testing::source_path("tests/report/read_sweep_h5.py").string() +
      " " + file.string());
  EXPECT_EQ(r.status, 0) << r.output;
  return json::parse(r.output);
}

TEST(ReportReduce, SweepH5IsSelfDescribingForH5py) {
  const auto dir = fresh_dir("reduce-h5");
  const ReduceInput in = sample_input();
  const ReduceOutputs out = reduce(in, dir);
  ASSERT_EQ(out.sweep_h5, dir / "sweep.h5");
  const json j = read_with_h5py(out.sweep_h5);

  EXPECT_EQ(j["attrs"]["format"], "csweep.sweep/1");
  EXPECT_EQ(j["attrs"]["job_name"], "ioi-sample");
  EXPECT_EQ(j["attrs"]["spec_hash"], "0123abcd");
  EXPECT_EQ(j["attrs"]["analyses"], json({"head_patching", "resid_tracing", "site_ablation"}));
  EXPECT_EQ(j["job_spec"], in.spec_yaml);
  EXPECT_EQ(j["provenance"]["git_sha"], "deadbeef");
  EXPECT_EQ(j["prompt_ids"], json({"p0", "p1", "p2"}));
  EXPECT_EQ(j["prompt_tokens"][0][1], " Mary");
  // Both prompts of each pair, as ids and strings (a lone byte as <0xE2>), the answer/wrong
  // pairs and the unpatched runs' metric: what a reader needs to see what was run.
  const json& prompts = j["prompts"];
  EXPECT_EQ(prompts["corrupted_tokens"]["values"][0],
            json({"When", " Mary", " and", " Kate", " went", " to"}));
  EXPECT_EQ(prompts["corrupted_tokens"]["values"][2][3], "<0xE2>");
  EXPECT_EQ(prompts["corrupted_text"]["values"][1], "When Anna and Tom went to");
  EXPECT_EQ(prompts["clean_ids"]["values"][1], json({100, 101, 102, 103, 104, 105}));
  EXPECT_EQ(prompts["corrupted_ids"]["values"][1], json({100, 101, 102, 901, 104, 105}));
  EXPECT_EQ(prompts["corrupted_ids"]["attrs"]["axes"], json({"prompt", "pos"}));
  EXPECT_EQ(prompts["answer_ids"]["values"], json::parse("[[103], [103], [103]]"));
  EXPECT_EQ(prompts["wrong_tokens"]["values"][2], json({" Ann"}));
  EXPECT_EQ(prompts["answer_tokens"]["values"][0], json({" John"}));
  EXPECT_EQ(prompts["clean_metric"]["values"], json({2.0, 2.0, nullptr}));
  EXPECT_EQ(prompts["corrupted_metric"]["values"][0], -1.0);
  EXPECT_EQ(prompts["clean_metric"]["attrs"]["metric"], "logit_diff");

  const json& heads = j["analyses"]["head_patching"];
  EXPECT_EQ(heads["attrs"]["axes"], json({"layer", "pos", "head"}));
  EXPECT_EQ(heads["attrs"]["kind"], "activation_patching");
  EXPECT_EQ(heads["attrs"]["metric"], "logit_diff");
  EXPECT_EQ(heads["attrs"]["cells_done"], 60);
  EXPECT_EQ(heads["attrs"]["cells_total"], 72);
  const json& pp = heads["datasets"]["per_prompt"];
  EXPECT_EQ(pp["shape"], json({3, 4, 3, 2}));
  EXPECT_EQ(pp["dims"], json({"prompt", "layer", "pos", "head"}));
  EXPECT_EQ(pp["axes_attr"], pp["dims"]);
  EXPECT_EQ(pp["scales"][0], json({"p0", "p1", "p2"}));
  EXPECT_EQ(pp["scales"][1], json({0, 1, 2, 3}));
  EXPECT_EQ(pp["scales"][2], json({1, 3, 5}));  // the model positions of the axis
  EXPECT_EQ(pp["scales"][3], json({0, 1}));
  // per_prompt[p][l][q][h] = value at cell (l*3 + q)*2 + h; NaN (null) where not done.
  EXPECT_NEAR(pp["values"][1][2][1][0].get<double>(), testing::sample_value(1, 14), 1e-6);
  EXPECT_TRUE(pp["values"][2][3][2][1].is_null());
  const json& mean = heads["datasets"]["mean"];
  EXPECT_EQ(mean["shape"], json({4, 3, 2}));
  EXPECT_EQ(mean["dims"], json({"layer", "pos", "head"}));
  EXPECT_NEAR(mean["values"][0][0][0].get<double>(), testing::sample_value(0, 0) + 0.25, 1e-6);
  EXPECT_NEAR(mean["values"][3][2][1].get<double>(), testing::sample_value(0, 23) + 0.125, 1e-6);
  EXPECT_EQ(heads["datasets"]["fraction_recovered"]["shape"], json({4, 3, 2}));
  EXPECT_EQ(heads["datasets"]["clean_baseline"]["values"], json({2.0, 2.5, nullptr}));
  EXPECT_EQ(heads["datasets"]["position_tokens"]["values"][1], json({" Anna", " Bob", " to"}));
  EXPECT_EQ(heads["datasets"]["position_tokens"]["dims"], json({"prompt", "pos"}));
  EXPECT_EQ(heads["top_k"]["label"][0], "layer 1, pos 1, head 0");
  EXPECT_EQ(heads["top_k"]["layer"][0], 1);
  EXPECT_EQ(heads["top_k"]["pos"][0], 1);
  EXPECT_EQ(heads["top_k"]["label"].size(), 10u);  // reduce.top_k's documented default

  const json& sites = j["analyses"]["site_ablation"];
  EXPECT_EQ(sites["datasets"]["mean"]["scales"][0], json({"resid_post", "attn_out", "mlp_out"}));
  EXPECT_FALSE(sites["datasets"].contains("fraction_recovered"));
  EXPECT_EQ(sites["top_k"]["label"][0], "site attn_out, layer 2");
}

TEST(ReportReduce, ReportsCompletenessAndWritesEveryHeatmap) {
  const auto dir = fresh_dir("reduce-files");
  const ReduceOutputs out = reduce(sample_input(), dir);
  ASSERT_EQ(out.completeness.size(), 3u);
  EXPECT_EQ(out.completeness[0].line(), "head_patching: 60/72 cells, 83%");
  EXPECT_EQ(out.completeness[1].line(), "resid_tracing: 36/36 cells, 100%");
  // mean for all three, fraction recovered for the one with baselines; PNG + SVG each.
  ASSERT_EQ(out.heatmaps.size(), 8u);
  for (const auto& p : out.heatmaps) EXPECT_TRUE(std::filesystem::file_size(p) > 1000) << p;
  EXPECT_EQ(out.heatmaps[0], dir / "heatmaps" / "head_patching_mean.png");
  EXPECT_EQ(out.heatmaps[2], dir / "heatmaps" / "head_patching_fraction_recovered.png");
  const std::string html = read_text(out.report_html);
  EXPECT_EQ(std::count(html.begin(), html.end(), '\n') > 10, true);
  EXPECT_NE(html.find("data:image/png;base64,"), std::string::npos);
  EXPECT_EQ(html.find("src=\"http"), std::string::npos);  // nothing fetched from outside
  EXPECT_NE(html.find("60 / 72 (83%)"), std::string::npos);
  // The prompts table: corrupted tokens (the changed one marked), a lone byte as its bytes
  // (never U+FFFD), answer vs wrong, the baselines.
  EXPECT_NE(html.find("<span class=\"tok diff\" title=\"pos 3, id 901\"> Tom</span>"),
            std::string::npos);
  EXPECT_NE(html.find("&lt;0xE2&gt;"), std::string::npos);
  EXPECT_EQ(html.find("\xEF\xBF\xBD"), std::string::npos);
  EXPECT_NE(
      html.find("title=\"id 103\"> John</span> vs <span class=\"tok\" title=\"id 101\"> Mary"),
      std::string::npos);
  EXPECT_NE(html.find("<th>clean logit_diff</th>"), std::string::npos);
}

// The job's reduce section: top_k (default 10, as docs/jobs.md says) and normalise: false
// (no fraction recovered: no dataset, no figure).
TEST(ReportReduce, HonoursTheJobsTopKAndNormalise) {
  EXPECT_EQ(ReduceInput{}.top_k, 10);
  ReduceInput in = sample_input();
  in.top_k = 3;
  in.normalise = false;
  const auto dir = fresh_dir("reduce-section");
  const ReduceOutputs out = reduce(in, dir);
  for (const auto& p : out.heatmaps)
    EXPECT_EQ(p.filename().string().find("fraction"), std::string::npos) << p;
  const json heads = read_with_h5py(out.sweep_h5)["analyses"]["head_patching"];
  EXPECT_EQ(heads["top_k"]["label"].size(), 3u);
  EXPECT_FALSE(heads["datasets"].contains("fraction_recovered"));
  EXPECT_TRUE(heads["datasets"].contains("effect"));  // the effect needs no normalising
  EXPECT_EQ(reduce(in, dir, ReduceOptions{5}).completeness.size(), 3u);  // --top-k overrides
}

// A kind's quantities each get their own figure, colour bar label and scale; token ids none.
TEST(ReportFigures, EachQuantityHasItsOwnFigureAndUnits) {
  ReduceInput in = sample_input();
  AnalysisInput& a = in.analyses[2];  // site x layer: make "site" a quantity axis
  a.quantity_axis = 0;
  a.quantities = {{"probability", true, Ranking::Magnitude, false},
                  {"rank (0 = top)", true, Ranking::Smallest, false},
                  {"top token", false, Ranking::Never, true}};
  const auto figures = analysis_figures(in, a, aggregate(a));
  ASSERT_EQ(figures.size(), 2u);
  EXPECT_EQ(figures[0].colorbar_label, "probability");
  EXPECT_EQ(figures[1].colorbar_label, "rank (0 = top)");
  EXPECT_TRUE(figures[0].sequential);
  EXPECT_EQ(figures[0].panels.size(), 1u);
  EXPECT_EQ(figures[0].panels[0].values.size(), 4u);  // the layers of one quantity
}

// Position labels show the first prompt's tokens; the axis says so, and that the prompts'
// tokens differ there (the sample's names differ at positions 1 and 3).
TEST(ReportFigures, PositionAxesSayWhoseTokensTheyShow) {
  const ReduceInput in = sample_input();
  const auto figures = analysis_figures(in, in.analyses[0], aggregate(in.analyses[0]));
  ASSERT_FALSE(figures.empty());
  EXPECT_EQ(figures[0].col_axis, "head");
  EXPECT_NE(figures[0].panels[0].title.find("pos 1: Mary (prompt p0)"), std::string::npos)
      << figures[0].panels[0].title;
  const auto tracing = analysis_figures(in, in.analyses[1], aggregate(in.analyses[1]));
  EXPECT_EQ(tracing[0].col_axis, "pos (tokens of prompt p0; the prompts' tokens differ)");

  ReduceInput same = in;
  for (auto& p : same.prompts) p.tokens = in.prompts[0].tokens;
  EXPECT_EQ(analysis_figures(same, same.analyses[1], aggregate(same.analyses[1]))[0].col_axis,
            "pos (tokens of all 3 prompts)");
}

// Opens report.html from disk in headless Chromium: every image must decode, and the
// screenshot must show a page (not a blank one).
TEST(ReportReduce, HtmlRendersInHeadlessChromium) {
  const std::string chromium = "/usr/bin/chromium";
  if (!std::filesystem::exists(chromium)) GTEST_SKIP() << "chromium is not installed";
  const auto dir = fresh_dir("reduce-html");
  const ReduceOutputs out = reduce(sample_input(), dir);

  // A copy of the page with a probe that reports, after load, how many images decoded.
  std::string html = read_text(out.report_html);
  const std::string probe =
      "<script>window.addEventListener('load', function () {"
      " var imgs = Array.prototype.slice.call(document.images);"
      " var ok = imgs.filter(function (i) { return i.complete && i.naturalWidth > 0; }).length;"
      " var m = document.createElement('pre'); m.id = 'probe';"
      " m.textContent = 'IMAGES_LOADED ' + ok + '/' + imgs.length; document.body.appendChild(m); "
      "});</script>";
  html.insert(html.rfind("</body>"), probe);
  const auto probed = dir / "probed.html";
  {
    std::ofstream o(probed);
    o << html;
  }
  const std::string flags =
      " --headless --no-sandbox --disable-gpu --disable-quic --no-first-run "
      "--disable-background-networking"
      " --disable-component-update --disable-sync --virtual-time-budget=5000 --user-data-dir=" +
      (dir / "profile").string();
  const auto dom = run_command(chromium + flags + " --dump-dom file://" + probed.string());
  ASSERT_EQ(dom.status, 0) << dom.output;
  std::smatch m;
  ASSERT_TRUE(std::regex_search(dom.output, m, std::regex("IMAGES_LOADED (\\d+)/(\\d+)")))
      << dom.output.substr(0, 2000);
  EXPECT_EQ(m[1], m[2]);
  EXPECT_EQ(std::stoi(m[2]), 4);  // every heatmap PNG is in the page

  const auto shot = dir / "shot.png";
  const auto r =
      run_command(chromium + flags + " --window-size=1200,2000 --screenshot=" + shot.string() +
                  " file://" + out.report_html.string());
  ASSERT_EQ(r.status, 0) << r.output;
  const auto img = read_png(shot);
  ASSERT_EQ(img.width, 1200);
  // Pixel variance of the luminance and the share of clearly coloured pixels (heatmaps).
  double sum = 0, sum2 = 0;
  int64_t coloured = 0;
  for (uint32_t px : img.pixels) {
    const int r8 = (px >> 16) & 0xFF, g8 = (px >> 8) & 0xFF, b8 = px & 0xFF;
    const double y = 0.299 * r8 + 0.587 * g8 + 0.114 * b8;
    sum += y, sum2 += y * y;
    if (std::max({r8, g8, b8}) - std::min({r8, g8, b8}) > 60) ++coloured;
  }
  const double n = static_cast<double>(img.pixels.size());
  const double variance = sum2 / n - (sum / n) * (sum / n);
  EXPECT_GT(variance, 100.0);
  EXPECT_GT(coloured, 20000);
}

// circuit_faithfulness's reduce (report/faithfulness.h).
TEST(ReportFaithfulness, ExactlyZeroForTheEmptyCircuitAndOneForTheFullModel) {
  const std::vector<double> f = faithfulness({0.1, 0.2, 0.3, 0.7});
  EXPECT_EQ(f.front(), 0.0);
  EXPECT_EQ(f.back(), 1.0);
  EXPECT_DOUBLE_EQ(f[1], 1.0 / 6.0);
  EXPECT_TRUE(std::isnan(faithfulness({2.0, 3.0, 2.0})[1]));  // no gap to normalise by
}

TEST(ReportFaithfulness, CprAndCmdOnAHandMadeCurve) {
  // One prompt whose metric is its faithfulness: f = 0, 1.5, 0.75, 1 at 0, 1/4, 1/2, 1 of the
  // nodes.
  const FaithfulnessCurve c = faithfulness_curve({0, 1, 2, 4}, {{0.0, 1.5, 0.75, 1.0}}, 10, 1);
  EXPECT_EQ(c.fraction, (std::vector<double>{0.0, 0.25, 0.5, 1.0}));
  EXPECT_DOUBLE_EQ(c.cpr, 0.25 * 0.75 + 0.25 * 1.125 + 0.5 * 0.875);  // 0.90625
  EXPECT_DOUBLE_EQ(c.cmd, 0.25 * 0.75 + 0.25 * 0.375 + 0.5 * 0.125);  // 0.34375: |1 - f|
  EXPECT_DOUBLE_EQ(c.cpr_ci.lo, c.cpr);  // one prompt: every resample is the same
  EXPECT_DOUBLE_EQ(c.cpr_ci.hi, c.cpr);
}

TEST(ReportFaithfulness, BootstrapIsSeededAndHoldsThePointEstimate) {
  std::vector<std::vector<double>> per_prompt;
  for (int p = 0; p < 40; ++p) {
    const double noise = std::sin(p * 1.7) * 0.3;
    per_prompt.push_back({noise, 1.0 + noise * 2.0, 2.0 + noise * 0.5, 2.5 + noise});
  }
  const FaithfulnessCurve a = faithfulness_curve({0, 2, 5, 10}, per_prompt, 1000, 7);
  const FaithfulnessCurve b = faithfulness_curve({0, 2, 5, 10}, per_prompt, 1000, 7);
  const FaithfulnessCurve other = faithfulness_curve({0, 2, 5, 10}, per_prompt, 1000, 8);
  for (size_t i = 0; i < a.sizes.size(); ++i) {
    EXPECT_EQ(a.faithfulness_ci[i].lo, b.faithfulness_ci[i].lo);
    EXPECT_EQ(a.faithfulness_ci[i].hi, b.faithfulness_ci[i].hi);
    EXPECT_LE(a.faithfulness_ci[i].lo, a.faithfulness[i]);
    EXPECT_GE(a.faithfulness_ci[i].hi, a.faithfulness[i]);
  }
  EXPECT_LT(a.faithfulness_ci[1].lo, a.faithfulness_ci[1].hi);  // the prompts differ
  EXPECT_NE(a.faithfulness_ci[1].lo, other.faithfulness_ci[1].lo);
  EXPECT_EQ(a.cpr_ci.lo, b.cpr_ci.lo);
  EXPECT_LE(a.cpr_ci.lo, a.cpr);
  EXPECT_GE(a.cpr_ci.hi, a.cpr);
  EXPECT_LE(a.cmd_ci.lo, a.cmd);
  EXPECT_GE(a.cmd_ci.hi, a.cmd);
}

TEST(ReportFaithfulness, SweepH5AndReportHoldTheCurveAndTheChosenCircuit) {
  const auto dir = fresh_dir("reduce-faithfulness");
  ReduceInput in = sample_input();
  AnalysisInput c;
  c.name = "circuit";
  c.kind = "circuit_faithfulness";
  c.metric = "logit_diff";
  c.axes = {AxisInfo{"size", 4, {"0", "1", "2", "8"}, {0, 1, 2, 8}}};
  for (size_t p = 0; p < in.prompts.size(); ++p) {  // f = 0.5 at 1 node, 0.9 at 2
    const float base = static_cast<float>(p);
    c.values.push_back({base, base + 1.0f, base + 1.8f, base + 2.0f});
    c.done.emplace_back(4, 1);
  }
  c.options = {
      {"nodes", {"a0.h0", "a1.h2", "m1"}}, {"threshold", 0.8}, {"bootstrap", 200}, {"seed", 3}};
  in.analyses.push_back(c);
  const ReduceOutputs out = reduce(in, dir);
  const auto r = run_command(
      "/usr/bin/python3 -c \"import h5py, json, sys; f = h5py.File(sys.argv[1]); "
      "g = f['analyses/circuit/faithfulness']; c = g['circuit']; print(json.dumps({"
      "'f': g['faithfulness'][()].tolist(), 'ci': g['faithfulness_ci'][()].tolist(), "
      "'cpr': float(g['cpr'][()]), 'cmd': float(g['cmd'][()]), 'size': int(c.attrs['size']), "
      "'nodes': [n.decode() if isinstance(n, bytes) else n for n in c['nodes'][()]], "
      "'edges': c['edges'][()].tolist()}))\" " +
      out.sweep_h5.string());
  ASSERT_EQ(r.status, 0) << r.output;
  const json j = json::parse(r.output);
  EXPECT_EQ(j["f"][0].get<double>(), 0.0);
  EXPECT_NEAR(j["f"][1].get<double>(), 0.5, 1e-6);
  EXPECT_NEAR(j["f"][2].get<double>(), 0.9, 1e-6);
  EXPECT_EQ(j["f"][3].get<double>(), 1.0);
  EXPECT_NEAR(j["cpr"].get<double>(), 0.125 * 0.25 + 0.125 * 0.7 + 0.75 * 0.95, 1e-6);
  EXPECT_EQ(j["size"].get<int>(), 2);
  EXPECT_EQ(j["nodes"], json({"a0.h0", "a1.h2"}));
  EXPECT_EQ(j["edges"], json({{0, 1}}));  // layer 0's head above layer 1's
  const std::string html = read_text(out.report_html);
  EXPECT_NE(html.find("<figure class=\"faithfulness\"><svg"), std::string::npos);
  EXPECT_NE(html.find("<figure class=\"circuit\"><svg"), std::string::npos);
  EXPECT_NE(html.find(">a1.h2</text>"), std::string::npos);
  EXPECT_TRUE(std::filesystem::exists(dir / "heatmaps" / "circuit_faithfulness.svg"));
}

}  // namespace
}  // namespace csweep::report
