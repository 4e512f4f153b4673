// bench_report_reduce LAYERS HEADS POSITIONS PROMPTS [OUT_DIR]: times `reduce` phases on a
// synthetic, fully done [layer, pos, head] patching analysis (with baselines) plus a
// [layer, pos] one. Speed is reported, never asserted.
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>

#include "report/aggregate.h"
#include "report/figures.h"
#include "report/heatmap.h"
#include "report/reduce.h"
#include "report/sweep_h5.h"

using namespace csweep::report;

namespace {

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

AxisInfo axis(const std::string& name, int64_t n) {
  AxisInfo a{name, n, {}, {}};
  for (int64_t i = 0; i < n; ++i) a.labels.push_back(std::to_string(i)), a.values.push_back(i);
  return a;
}

AnalysisInput analysis(const std::string& name, std::vector<AxisInfo> axes, int64_t prompts) {
  AnalysisInput a;
  a.name = name, a.kind = "activation_patching", a.metric = "logit_diff", a.axes = std::move(axes);
  const int64_t cells = a.cells();
  for (int64_t p = 0; p < prompts; ++p) {
    std::vector<float> v(cells);
    for (int64_t c = 0; c < cells; ++c) v[c] = static_cast<float>(std::sin(0.001 * c + p));
    a.values.push_back(std::move(v));
    a.done.emplace_back(cells, 1);
    a.clean_baseline.push_back(3.0);
    a.corrupted_baseline.push_back(-1.0);
  }
  return a;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 5) {
    std::fprintf(stderr, "usage: %s LAYERS HEADS POSITIONS PROMPTS [OUT_DIR]\n", argv[0]);
    return 2;
  }
  const int64_t layers = std::atoll(argv[1]), heads = std::atoll(argv[2]),
                positions = std::atoll(argv[3]), prompts = std::atoll(argv[4]);
  const std::filesystem::path out =
      argc > 5 ? argv[5] : std::filesystem::temp_directory_path() / "csweep-bench-reduce";
  std::filesystem::create_directories(out / "heatmaps");

  ReduceInput in;
  in.job_name = "bench";
  for (int64_t p = 0; p < prompts; ++p) {
    PromptInfo info{"p" + std::to_string(p), "", {}};
    for (int64_t i = 0; i < positions; ++i) info.tokens.push_back(" tok" + std::to_string(i));
    in.prompts.push_back(info);
  }
  in.analyses.push_back(analysis(
      "heads", {axis("layer", layers), axis("pos", positions), axis("head", heads)}, prompts));
  in.analyses.push_back(
      analysis("resid", {axis("layer", layers), axis("pos", positions)}, prompts));
  const int64_t cells = in.analyses[0].cells() + in.analyses[1].cells();

  auto t0 = std::chrono::steady_clock::now();
  std::vector<Aggregates> agg;
  std::vector<std::vector<TopComponent>> top;
  for (const auto& a : in.analyses) {
    agg.push_back(aggregate(a));
    top.push_back(top_components(a, agg.back(), 20));
  }
  const double t_agg = seconds_since(t0);
  t0 = std::chrono::steady_clock::now();
  write_sweep_h5(out / "sweep.h5", in, agg, top);
  const double t_h5 = seconds_since(t0);
  t0 = std::chrono::steady_clock::now();
  int figures = 0;
  for (size_t i = 0; i < in.analyses.size(); ++i)
    for (const auto& f : analysis_figures(in, in.analyses[i], agg[i]))
      render_heatmap(f, out / "heatmaps" / (in.analyses[i].name + std::to_string(figures++)));
  const double t_plot = seconds_since(t0);
  t0 = std::chrono::steady_clock::now();
  reduce(in, out);
  const double t_all = seconds_since(t0);

  std::printf("grid %lldx%lldx%lld, %lld prompts: %lld cells/prompt, %.1f M values\n",
              (long long)layers, (long long)heads, (long long)positions, (long long)prompts,
              (long long)cells, cells * prompts / 1e6);
  std::printf(
      "aggregate+top-k %.3f s | sweep.h5 %.3f s (%.1f MB) | %d heatmaps (PNG+SVG) %.3f s | "
      "reduce() total %.3f s\n",
      t_agg, t_h5, std::filesystem::file_size(out / "sweep.h5") / 1e6, figures, t_plot, t_all);
  return 0;
}
