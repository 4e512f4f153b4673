#include "report/figures.h"

#include <algorithm>

#include <cmath>
#include <limits>
#include <map>

#include "report/text.h"

namespace csweep::report {
namespace {

constexpr int64_t kMaxPanels = 100;

int find_axis(const AnalysisInput& a, const std::vector<std::string>& names, int skip) {
  for (const auto& name : names)
    for (int i = 0; i < static_cast<int>(a.axes.size()); ++i)
      if (i != skip && a.axes[i].name == name) return i;
  return -1;
}

std::vector<std::string> labels_of(const ReduceInput& input, const AxisInfo& axis) {
  if (axis.is_position()) return position_labels(input, axis);
  std::vector<std::string> out;
  for (int64_t i = 0; i < axis.size; ++i) out.push_back(axis_label(axis, i));
  return out;
}

struct Arrangement {
  int row = -1, col = -1;  // -1: a single row (one-axis analyses)
  std::vector<int> panel;  // the other axes, outermost first
};

Arrangement arrange(const AnalysisInput& a) {
  Arrangement ar;
  const int n = static_cast<int>(a.axes.size());
  if (n == 1) {
    ar.col = 0;
    return ar;
  }
  ar.row = find_axis(a, {"layer"}, -1);
  if (ar.row < 0) ar.row = 0;
  ar.col = find_axis(a, {"head", "pos", "position"}, ar.row);
  if (ar.col < 0) ar.col = ar.row == 0 ? 1 : 0;
  for (int i = 0; i < n; ++i)
    if (i != ar.row && i != ar.col) ar.panel.push_back(i);
  return ar;
}

HeatmapFigure build(const ReduceInput& input, const AnalysisInput& a, const Arrangement& ar,
                    const std::vector<float>& stat) {
  HeatmapFigure f;
  const int64_t rows = ar.row >= 0 ? a.axes[ar.row].size : 1;
  const int64_t cols = a.axes[ar.col].size;
  f.row_axis = ar.row >= 0 ? a.axes[ar.row].name : "";
  f.col_axis = a.axes[ar.col].name;
  if (a.axes[ar.col].is_position()) f.col_axis += position_tokens_owner(input, a.axes[ar.col]);
  if (ar.row >= 0 && a.axes[ar.row].is_position())
    f.row_axis += position_tokens_owner(input, a.axes[ar.row]);
  f.row_labels = ar.row >= 0 ? labels_of(input, a.axes[ar.row]) : std::vector<std::string>{""};
  f.col_labels = labels_of(input, a.axes[ar.col]);

  // Row-major strides of the analysis grid.
  std::vector<int64_t> stride(a.axes.size(), 1);
  for (int i = static_cast<int>(a.axes.size()) - 2; i >= 0; --i)
    stride[i] = stride[i + 1] * a.axes[i + 1].size;
  int64_t n_panels = 1;
  for (int i : ar.panel) n_panels *= a.axes[i].size;

  for (int64_t k = 0; k < std::min(n_panels, kMaxPanels); ++k) {
    HeatmapPanel p;
    p.rows = rows, p.cols = cols;
    int64_t base = 0, rest = k;
    for (size_t j = ar.panel.size(); j-- > 0;) {
      const AxisInfo& axis = a.axes[ar.panel[j]];
      const int64_t idx = rest % axis.size;
      rest /= axis.size;
      base += idx * stride[ar.panel[j]];
      std::string label = labels_of(input, axis)[idx];
      if (axis.is_position() && position_tokens_differ(input, axis))
        label += " (prompt " + input.prompts.front().id + ")";
      p.title = axis.name + " " + label + (p.title.empty() ? "" : ", " + p.title);
    }
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t c = 0; c < cols; ++c) {
        const int64_t cell = base + (ar.row >= 0 ? r * stride[ar.row] : 0) + c * stride[ar.col];
        p.values.push_back(stat[cell]);
      }
    f.panels.push_back(std::move(p));
  }
  if (n_panels > kMaxPanels)
    f.subtitle =
        "(first " + std::to_string(kMaxPanels) + " of " + std::to_string(n_panels) + " panels) ";
  return f;
}

// An "edge" axis ("sender->receiver", edge_attribution) drawn as its sender x receiver matrix:
// as a strip, thousands of edges would be a line of unreadable cells. Pairs that are no edge
// (a receiver before its sender) stay blank; rows and columns keep the axis's first-seen order.
HeatmapFigure edge_matrix(const AxisInfo& axis, const std::vector<float>& stat) {
  HeatmapFigure f;
  f.row_axis = "sender";
  f.col_axis = "receiver";
  std::map<std::string, int64_t> rows, cols;
  auto index = [](std::map<std::string, int64_t>& seen, std::vector<std::string>& names,
                  const std::string& name) {
    const auto [it, added] = seen.emplace(name, static_cast<int64_t>(names.size()));
    if (added) names.push_back(name);
    return it->second;
  };
  std::vector<std::pair<int64_t, int64_t>> at;
  for (int64_t i = 0; i < axis.size; ++i) {
    const std::string label = axis_label(axis, i);
    const size_t arrow = label.find("->");
    const std::string to = arrow == std::string::npos ? "" : label.substr(arrow + 2);
    at.emplace_back(index(rows, f.row_labels, label.substr(0, arrow)),
                    index(cols, f.col_labels, to));
  }
  HeatmapPanel p;
  p.rows = static_cast<int64_t>(f.row_labels.size());
  p.cols = static_cast<int64_t>(f.col_labels.size());
  p.values.assign(static_cast<size_t>(p.rows * p.cols), std::numeric_limits<float>::quiet_NaN());
  for (size_t i = 0; i < at.size(); ++i)
    p.values[static_cast<size_t>(at[i].first * p.cols + at[i].second)] = stat[i];
  f.panels.push_back(std::move(p));
  return f;
}

// The figure of one statistic over the analysis's grid.
HeatmapFigure build_figure(const ReduceInput& input, const AnalysisInput& a, const Arrangement& ar,
                           const std::vector<float>& stat) {
  if (a.axes.size() == 1 && a.axes[0].name == "edge") return edge_matrix(a.axes[0], stat);
  return build(input, a, ar, stat);
}

std::string completeness(const Aggregates& g) {
  if (g.cells_done == g.cells_total) return "";
  const double pct = g.cells_total ? 100.0 * g.cells_done / g.cells_total : 0.0;
  char buf[64];
  std::snprintf(buf, sizeof buf, "; partial: %.0f%% of cells done", std::floor(pct));
  return buf;
}

}  // namespace

bool position_tokens_differ(const ReduceInput& input, const AxisInfo& axis) {
  if (input.prompts.empty()) return false;
  auto token_at = [](const std::vector<std::string>& tokens, int64_t pos) {
    return pos >= 0 && pos < static_cast<int64_t>(tokens.size()) ? tokens[pos] : std::string();
  };
  const auto& first = input.prompts.front().tokens;
  for (const auto& p : input.prompts)
    for (int64_t i = 0; i < axis.size; ++i)
      if (token_at(p.tokens, axis.value(i)) != token_at(first, axis.value(i))) return true;
  return false;
}

std::string position_tokens_owner(const ReduceInput& input, const AxisInfo& axis) {
  if (input.prompts.empty() || input.prompts.front().tokens.empty()) return "";
  const std::string& id = input.prompts.front().id;
  if (position_tokens_differ(input, axis))
    return " (tokens of prompt " + id + "; the prompts' tokens differ)";
  return input.prompts.size() == 1
             ? " (tokens of prompt " + id + ")"
             : " (tokens of all " + std::to_string(input.prompts.size()) + " prompts)";
}

std::vector<std::string> position_labels(const ReduceInput& input, const AxisInfo& axis) {
  std::vector<std::string> out;
  const std::vector<std::string>* tokens =
      input.prompts.empty() ? nullptr : &input.prompts.front().tokens;
  for (int64_t i = 0; i < axis.size; ++i) {
    const int64_t pos = axis.value(i);
    std::string label = std::to_string(pos);
    if (tokens && pos >= 0 && pos < static_cast<int64_t>(tokens->size()))
      label += ":" + display_token((*tokens)[pos]);
    out.push_back(label);
  }
  return out;
}

namespace {

// The analysis with its quantity axis fixed at `entry` (the axis removed) and a statistic
// sliced alike; what is left keeps row-major order. A grid of the quantity axis alone keeps
// one cell.
AnalysisInput without_axis(const AnalysisInput& a, int axis) {
  AnalysisInput s;
  s.name = a.name, s.kind = a.kind;
  for (int i = 0; i < static_cast<int>(a.axes.size()); ++i)
    if (i != axis) s.axes.push_back(a.axes[i]);
  if (s.axes.empty()) s.axes.push_back({"value", 1, {""}, {}});
  return s;
}

std::vector<float> slice(const std::vector<float>& stat, const AnalysisInput& a, int axis,
                         int64_t entry) {
  std::vector<float> out;
  for (int64_t c = 0; c < a.cells(); ++c)
    if (unravel(c, a.axes)[axis] == entry) out.push_back(stat[c]);
  return out;
}

int prompts_done(const AnalysisInput& a) {
  int n = 0;
  for (const auto& row : a.done)
    for (uint8_t d : row)
      if (d) {
        ++n;
        break;
      }
  return n;
}

// What the means are over: the prompts done, or, for a kind whose one planned prompt row holds
// the whole set's result (the probe), that set.
std::string over_prompts(const AnalysisInput& a, int n) {
  const auto planned = std::count(a.planned.begin(), a.planned.end(), 1);
  if (planned > 0 && static_cast<size_t>(planned) < a.planned.size())
    return " over the whole set of " + std::to_string(a.planned.size()) + " prompts";
  return " over " + std::to_string(n) + " prompt" + (n == 1 ? "" : "s");
}

}  // namespace

std::vector<HeatmapFigure> analysis_figures(const ReduceInput& input, const AnalysisInput& a,
                                            const Aggregates& g) {
  const std::string title = a.name + " (" + a.kind + ")";
  const int n_prompts = prompts_done(a);
  std::vector<HeatmapFigure> figures;
  if (a.quantity_axis >= 0) {
    // Each quantity its own figure, colour scale and units; token ids are no colour (sweep.h5
    // and report.html show them as text).
    const AxisInfo& axis = a.axes[a.quantity_axis];
    const AnalysisInput rest = without_axis(a, a.quantity_axis);
    for (int64_t q = 0; q < axis.size && static_cast<size_t>(q) < a.quantities.size(); ++q) {
      const Quantity& quantity = a.quantities[q];
      if (quantity.token_ids) continue;
      HeatmapFigure f = build(input, rest, arrange(rest), slice(g.mean, a, a.quantity_axis, q));
      f.title = title;
      f.subtitle += "mean " + quantity.label + over_prompts(a, n_prompts) + completeness(g);
      f.colorbar_label = quantity.label;
      f.sequential = quantity.sequential;
      f.file_name = axis_label(axis, q) + "_mean";
      figures.push_back(std::move(f));
    }
    return figures;
  }
  const Arrangement ar = arrange(a);
  HeatmapFigure mean = build_figure(input, a, ar, g.mean);
  mean.title = title;
  mean.subtitle += "mean " + a.metric + over_prompts(a, n_prompts) + completeness(g);
  mean.colorbar_label = a.metric;
  mean.sequential = a.sequential;
  mean.file_name = "mean";
  figures.push_back(std::move(mean));

  if (g.has_fraction) {
    HeatmapFigure frac = build_figure(input, a, ar, g.fraction_recovered);
    frac.title = title;
    frac.subtitle += fraction_label(a) + ": " + fraction_formula(a) + completeness(g);
    frac.colorbar_label = fraction_label(a);
    frac.limit = 1.0;  // the same scale for every analysis: comparable side by side
    frac.file_name = fraction_name(a);
    figures.push_back(std::move(frac));
  }
  return figures;
}

}  // namespace csweep::report
