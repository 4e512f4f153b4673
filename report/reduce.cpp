#include "report/reduce.h"

#include <cmath>
#include <cstdio>
#include <system_error>

#include "common/error.h"
#include "common/log.h"
#include "report/aggregate.h"
#include "report/faithfulness.h"
#include "report/figures.h"
#include "report/heatmap.h"
#include "report/html_report.h"
#include "report/sweep_h5.h"

namespace csweep::report {
namespace {

std::string file_stem(const std::string& name) {
  std::string out;
  for (char c : name)
    out += std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' ? c : '_';
  return out.empty() ? "analysis" : out;
}

}  // namespace

std::string Completeness::line() const {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%lld/%lld cells, %.0f%%", static_cast<long long>(cells_done),
                static_cast<long long>(cells_total), std::floor(percent()));
  return analysis + ": " + buf;
}

ReduceOutputs reduce(const ReduceInput& input, const std::filesystem::path& out_dir,
                     const ReduceOptions& options) {
  auto log = log::get("report");
  validate(input, out_dir.string());
  const std::filesystem::path heatmap_dir = out_dir / "heatmaps";
  std::error_code ec;
  std::filesystem::create_directories(heatmap_dir, ec);
  if (ec) throw error_at(heatmap_dir.string(), "", "cannot create: " + ec.message());

  ReduceOutputs out;
  std::vector<Aggregates> aggregates;
  std::vector<std::vector<TopComponent>> top;
  for (const auto& a : input.analyses) {
    aggregates.push_back(aggregate(a, input.normalise));
    top.push_back(top_components(a, aggregates.back(),
                                 static_cast<int>(options.top_k.value_or(input.top_k))));
    out.completeness.push_back(
        {a.name, aggregates.back().cells_done, aggregates.back().cells_total});
    log->info("{}", out.completeness.back().line());
  }

  const AttentionPatterns patterns = attention_patterns(input, top, options.attention_patterns);
  out.sweep_h5 = out_dir / "sweep.h5";
  write_sweep_h5(out.sweep_h5, input, aggregates, top, patterns);

  std::vector<ReportFigure> figures;
  for (size_t i = 0; i < input.analyses.size(); ++i) {
    const auto& a = input.analyses[i];
    for (const auto& f : analysis_figures(input, a, aggregates[i])) {
      const auto paths = render_heatmap(f, heatmap_dir / (file_stem(a.name + "_" + f.file_name)));
      out.heatmaps.insert(out.heatmaps.end(), paths.begin(), paths.end());
      figures.push_back({a.name, f.subtitle, paths.at(0), paths.at(1)});
    }
    if (is_circuit_analysis(a))
      out.heatmaps.push_back(
          write_faithfulness_svg(a, heatmap_dir / file_stem(a.name + "_faithfulness")));
  }
  if (options.write_html) {
    out.report_html = out_dir / "report.html";
    write_html_report(out.report_html, input, aggregates, top, figures, patterns);
  }
  return out;
}

}  // namespace csweep::report
