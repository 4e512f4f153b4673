#pragma once
// `csweep reduce`: aggregates every analysis, writes sweep.h5, the heatmaps and report.html
// into an output directory (the store directory by default). Reads only; the store's
// fragments are never touched.
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "report/attention_patterns.h"
#include "report/reduce_input.h"

namespace csweep::report {

struct ReduceOptions {
  std::optional<int64_t> top_k;  // components per analysis; default: the job's reduce.top_k
  bool write_html = true;
  // Computes the attention patterns of the top heads for report.html and sweep.h5 (`csweep
  // reduce` runs the job's model); empty: no pattern view.
  PatternSource attention_patterns;
};

struct Completeness {
  std::string analysis;
  int64_t cells_done = 0, cells_total = 0;  // over prompts x grid cells
  double percent() const { return cells_total ? 100.0 * cells_done / cells_total : 0.0; }
  std::string line() const;  // "ablation: 120/144 cells, 83%"
};

struct ReduceOutputs {
  std::filesystem::path sweep_h5;
  std::vector<std::filesystem::path> heatmaps;  // PNG and SVG
  std::filesystem::path report_html;            // empty when !write_html
  std::vector<Completeness> completeness;
};

ReduceOutputs reduce(const ReduceInput& input, const std::filesystem::path& out_dir,
                     const ReduceOptions& options = {});

}  // namespace csweep::report
