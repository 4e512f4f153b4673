#pragma once
// Heatmaps drawn with cairo, to PNG and SVG from the same drawing code. A figure is one or
// more panels (small multiples) that share ONE diverging colour scale centred on zero, with
// a colour bar, a title, and axis ticks thinned so labels never overlap (80 layers x 64 heads
// stays readable).
#include <filesystem>
#include <string>
#include <vector>

namespace csweep::report {

struct HeatmapPanel {
  std::string title;  // e.g. "position 3: ' Mary'" (may be empty)
  int64_t rows = 0, cols = 0;
  std::vector<float> values;  // [rows][cols] row-major; NaN = not computed (grey)
};

struct HeatmapFigure {
  std::string title;                                // e.g. "resid_patching (activation_patching)"
  std::string subtitle;                             // e.g. "mean logit_diff over 8 prompts"
  std::string row_axis, col_axis;                   // axis names, e.g. "layer", "head"
  std::vector<std::string> row_labels, col_labels;  // one per row/col
  std::string colorbar_label;                       // e.g. "logit_diff"
  std::string file_name;  // the file stem's suffix after the analysis name, e.g. "prob_mean"
  // Colour limit: values map to [-limit, limit]; <= 0 picks max |value| over all panels.
  double limit = 0;
  bool sequential = false;  // non-negative values: the scale runs from 0 to limit
  std::vector<HeatmapPanel> panels;
};

// The colour limit the figure will use (figure.limit or max |finite value|; 1 if all NaN/0).
double color_limit(const HeatmapFigure& figure);

// Writes `stem`.png and `stem`.svg; returns {png, svg}. Throws csweep::Error on I/O failure
// or inconsistent panel sizes.
std::vector<std::filesystem::path> render_heatmap(const HeatmapFigure& figure,
                                                  const std::filesystem::path& stem);

}  // namespace csweep::report
