#include "report/aggregate.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

namespace csweep::report {
namespace {

constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();

bool has_baselines(const AnalysisInput& a, size_t p) {
  return p < a.clean_baseline.size() && p < a.corrupted_baseline.size() && a.clean_baseline[p] &&
         a.corrupted_baseline[p];
}

double mean_of(const std::vector<std::optional<double>>& xs) {
  double sum = 0;
  int n = 0;
  for (const auto& x : xs)
    if (x) sum += *x, ++n;
  return n ? sum / n : std::numeric_limits<double>::quiet_NaN();
}

}  // namespace

Aggregates aggregate(const AnalysisInput& a) {
  const int64_t cells = a.cells();
  const size_t n_prompts = a.values.size();
  Aggregates g;
  g.mean.assign(cells, kNaN);
  g.std.assign(cells, kNaN);
  g.sem.assign(cells, kNaN);
  g.n_done.assign(cells, 0);
  g.cells_total = cells * static_cast<int64_t>(n_prompts);

  bool any_baselines = false;
  for (size_t p = 0; p < n_prompts; ++p) any_baselines = any_baselines || has_baselines(a, p);
  g.has_fraction = any_baselines;
  if (any_baselines) {
    g.fraction_recovered.assign(cells, kNaN);
    g.fraction_per_prompt.assign(n_prompts, std::vector<float>(cells, kNaN));
  }

  for (int64_t c = 0; c < cells; ++c) {
    // Two passes in double: mean, then squared deviations (no catastrophic cancellation).
    double sum = 0;
    int32_t n = 0;
    double patched = 0, clean = 0, corrupted = 0;
    int32_t n_base = 0;
    for (size_t p = 0; p < n_prompts; ++p) {
      if (!a.done[p][c]) continue;
      const double v = a.values[p][c];
      sum += v;
      ++n;
      if (any_baselines && has_baselines(a, p)) {
        const double cl = *a.clean_baseline[p], co = *a.corrupted_baseline[p];
        patched += v, clean += cl, corrupted += co, ++n_base;
        g.fraction_per_prompt[p][c] = cl != co ? static_cast<float>((v - co) / (cl - co)) : kNaN;
      }
    }
    g.n_done[c] = n;
    g.cells_done += n;
    if (n == 0) continue;
    const double mean = sum / n;
    g.mean[c] = static_cast<float>(mean);
    if (n >= 2) {
      double ss = 0;
      for (size_t p = 0; p < n_prompts; ++p)
        if (a.done[p][c]) ss += (a.values[p][c] - mean) * (a.values[p][c] - mean);
      const double sd = std::sqrt(ss / (n - 1));
      g.std[c] = static_cast<float>(sd);
      g.sem[c] = static_cast<float>(sd / std::sqrt(static_cast<double>(n)));
    }
    if (n_base > 0 && clean != corrupted)
      g.fraction_recovered[c] = static_cast<float>((patched - corrupted) / (clean - corrupted));
  }
  return g;
}

double mean_corrupted_baseline(const AnalysisInput& a) { return mean_of(a.corrupted_baseline); }
double mean_clean_baseline(const AnalysisInput& a) { return mean_of(a.clean_baseline); }

std::vector<int64_t> unravel(int64_t cell, const std::vector<AxisInfo>& axes) {
  std::vector<int64_t> index(axes.size(), 0);
  for (size_t i = axes.size(); i-- > 0;) {
    index[i] = cell % axes[i].size;
    cell /= axes[i].size;
  }
  return index;
}

std::string axis_label(const AxisInfo& axis, int64_t i) {
  if (i >= 0 && static_cast<size_t>(i) < axis.labels.size()) return axis.labels[i];
  return std::to_string(i);
}

std::vector<TopComponent> top_components(const AnalysisInput& a, const Aggregates& g, int k) {
  const int64_t cells = a.cells();
  std::vector<float> effect(cells, kNaN);
  for (int64_t c = 0; c < cells; ++c) {
    if (!g.has_fraction) {
      effect[c] = g.mean[c];
      continue;
    }
    // Mean change from the corrupted run, over the prompts done here that have a baseline.
    double sum = 0;
    int n = 0;
    for (size_t p = 0; p < a.values.size(); ++p)
      if (a.done[p][c] && p < a.corrupted_baseline.size() && a.corrupted_baseline[p])
        sum += a.values[p][c] - *a.corrupted_baseline[p], ++n;
    if (n) effect[c] = static_cast<float>(sum / n);
  }
  std::vector<int64_t> order;
  for (int64_t c = 0; c < cells; ++c)
    if (std::isfinite(effect[c])) order.push_back(c);
  std::stable_sort(order.begin(), order.end(), [&](int64_t x, int64_t y) {
    return std::fabs(effect[x]) > std::fabs(effect[y]);
  });
  if (k >= 0 && order.size() > static_cast<size_t>(k)) order.resize(k);

  std::vector<TopComponent> top;
  for (int64_t c : order) {
    TopComponent t;
    t.cell = c;
    t.index = unravel(c, a.axes);
    for (size_t i = 0; i < a.axes.size(); ++i) {
      if (i) t.label += ", ";
      t.label += a.axes[i].name + " " + axis_label(a.axes[i], t.index[i]);
    }
    t.effect = effect[c];
    t.mean = g.mean[c];
    t.sem = g.sem[c];
    t.fraction_recovered = g.has_fraction ? g.fraction_recovered[c] : kNaN;
    t.n_done = g.n_done[c];
    top.push_back(std::move(t));
  }
  return top;
}

}  // namespace csweep::report
