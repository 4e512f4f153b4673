#include "report/aggregate.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <numeric>
#include <optional>

namespace csweep::report {
namespace {

constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();
using Reference = AnalysisInput::Reference;

// The prompt's reference run (an effect is measured from it) and the run a fraction is
// measured towards: patching: corrupted -> clean; ablation: clean -> 0 (the metric gone).
// `to` is unknown where patching has no clean baseline for the prompt.
struct Span {
  double from = 0;
  std::optional<double> to;
};
std::optional<Span> span_of(const AnalysisInput& a, size_t p) {
  const auto at = [p](const std::vector<std::optional<double>>& b) {
    return p < b.size() ? b[p] : std::nullopt;
  };
  if (a.reference == Reference::Clean)
    return at(a.clean_baseline) ? std::optional<Span>(Span{*at(a.clean_baseline), 0.0})
                                : std::nullopt;
  if (at(a.corrupted_baseline)) return Span{*at(a.corrupted_baseline), at(a.clean_baseline)};
  return std::nullopt;
}

double mean_of(const std::vector<std::optional<double>>& xs) {
  double sum = 0;
  int n = 0;
  for (const auto& x : xs)
    if (x) sum += *x, ++n;
  return n ? sum / n : std::numeric_limits<double>::quiet_NaN();
}

// The entry of the quantity axis a cell lies on (-1 without one).
int64_t quantity_of(const AnalysisInput& a, int64_t cell) {
  if (a.quantity_axis < 0) return -1;
  return unravel(cell, a.axes)[a.quantity_axis];
}

bool is_token_cell(const AnalysisInput& a, int64_t cell) {
  const int64_t q = quantity_of(a, cell);
  return q >= 0 && static_cast<size_t>(q) < a.quantities.size() && a.quantities[q].token_ids;
}

// Token ids are not numbers: their "mean" is the most common id (ties: the smallest).
float mode_of(const AnalysisInput& a, int64_t c) {
  std::map<float, int> counts;
  for (size_t p = 0; p < a.values.size(); ++p)
    if (a.done[p][c]) ++counts[a.values[p][c]];
  float best = kNaN;
  int most = 0;
  for (const auto& [v, n] : counts)
    if (n > most) best = v, most = n;
  return best;
}

}  // namespace

Aggregates aggregate(const AnalysisInput& a, bool normalise) {
  const int64_t cells = a.cells();
  const size_t n_prompts = a.values.size();
  Aggregates g;
  g.mean.assign(cells, kNaN);
  g.std.assign(cells, kNaN);
  g.sem.assign(cells, kNaN);
  g.effect.assign(cells, kNaN);
  g.n_done.assign(cells, 0);
  const auto planned =
      a.planned.empty() ? static_cast<int64_t>(n_prompts)
                        : static_cast<int64_t>(std::count(a.planned.begin(), a.planned.end(), 1));
  g.cells_total = cells * planned;

  bool any_baselines = false, any_fraction = false;
  for (size_t p = 0; p < n_prompts; ++p) {
    const auto s = span_of(a, p);
    any_baselines = any_baselines || s;
    any_fraction = any_fraction || (s && s->to);
  }
  g.has_effect_baseline = any_baselines;
  g.has_fraction = any_fraction && normalise;
  if (g.has_fraction) {
    g.fraction_recovered.assign(cells, kNaN);
    g.fraction_per_prompt.assign(n_prompts, std::vector<float>(cells, kNaN));
  }

  for (int64_t c = 0; c < cells; ++c) {
    // Two passes in double: mean, then squared deviations (no catastrophic cancellation).
    double sum = 0;
    int32_t n = 0;
    double effect = 0, value = 0, from = 0, to = 0;
    int32_t n_effect = 0, n_base = 0;
    for (size_t p = 0; p < n_prompts; ++p) {
      if (!a.done[p][c]) continue;
      const double v = a.values[p][c];
      sum += v;
      ++n;
      const auto s = any_baselines ? span_of(a, p) : std::nullopt;
      if (s) effect += v - s->from, ++n_effect;
      if (s && s->to) {
        value += v, from += s->from, to += *s->to, ++n_base;
        if (g.has_fraction)
          g.fraction_per_prompt[p][c] =
              *s->to != s->from ? static_cast<float>((v - s->from) / (*s->to - s->from)) : kNaN;
      }
    }
    g.n_done[c] = n;
    g.cells_done += n;
    if (n == 0) continue;
    if (is_token_cell(a, c)) {
      g.mean[c] = mode_of(a, c);
      continue;
    }
    const double mean = sum / n;
    g.mean[c] = static_cast<float>(mean);
    g.effect[c] = any_baselines ? (n_effect ? static_cast<float>(effect / n_effect) : kNaN)
                                : static_cast<float>(mean);
    if (n >= 2) {
      double ss = 0;
      for (size_t p = 0; p < n_prompts; ++p)
        if (a.done[p][c]) ss += (a.values[p][c] - mean) * (a.values[p][c] - mean);
      const double sd = std::sqrt(ss / (n - 1));
      g.std[c] = static_cast<float>(sd);
      g.sem[c] = static_cast<float>(sd / std::sqrt(static_cast<double>(n)));
    }
    if (g.has_fraction && n_base > 0 && to != from)
      g.fraction_recovered[c] = static_cast<float>((value - from) / (to - from));
  }
  return g;
}

std::string fraction_name(const AnalysisInput& a) {
  return a.reference == Reference::Clean ? "fraction_of_clean_removed" : "fraction_recovered";
}

std::string fraction_label(const AnalysisInput& a) {
  return a.reference == Reference::Clean ? "fraction of clean " + a.metric + " removed"
                                         : "fraction recovered";
}

std::string fraction_formula(const AnalysisInput& a) {
  return a.reference == Reference::Clean ? "(clean - ablated) / clean"
                                         : "(patched - corrupted) / (clean - corrupted)";
}

std::string effect_formula(const AnalysisInput& a, const Aggregates& g) {
  if (!g.has_effect_baseline) return "mean";
  return a.reference == Reference::Clean ? "mean - clean baseline" : "mean - corrupted baseline";
}

std::string ranked_by(const AnalysisInput& a, const Aggregates& g) {
  std::string out = "|" + effect_formula(a, g) + "|";
  if (a.quantity_axis >= 0)
    out += " per " + a.axes[a.quantity_axis].name + " (rank: smallest first; token ids: never)";
  return out;
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

namespace {

// The cells on quantity entry `q` (every cell when q < 0), in `ranking`'s order, at most k.
std::vector<int64_t> ranked_cells(const AnalysisInput& a, const Aggregates& g, int64_t q,
                                  Ranking ranking, int k) {
  std::vector<int64_t> order;
  if (ranking == Ranking::Never) return order;
  for (int64_t c = 0; c < a.cells(); ++c)
    if (std::isfinite(g.effect[c]) && (q < 0 || quantity_of(a, c) == q)) order.push_back(c);
  std::stable_sort(order.begin(), order.end(), [&](int64_t x, int64_t y) {
    if (ranking == Ranking::Smallest) return g.effect[x] < g.effect[y];
    return std::fabs(g.effect[x]) > std::fabs(g.effect[y]);
  });
  if (k >= 0 && order.size() > static_cast<size_t>(k)) order.resize(k);
  return order;
}

}  // namespace

std::vector<TopComponent> top_components(const AnalysisInput& a, const Aggregates& g, int k) {
  std::vector<int64_t> order;
  if (a.quantity_axis < 0) {
    order = ranked_cells(a, g, -1, Ranking::Magnitude, k);
  } else {
    for (int64_t q = 0; q < a.axes[a.quantity_axis].size; ++q) {
      const Ranking r =
          static_cast<size_t>(q) < a.quantities.size() ? a.quantities[q].ranking : Ranking::Never;
      const auto cells = ranked_cells(a, g, q, r, k);
      order.insert(order.end(), cells.begin(), cells.end());
    }
  }
  std::vector<TopComponent> top;
  for (int64_t c : order) {
    TopComponent t;
    t.cell = c;
    t.index = unravel(c, a.axes);
    for (size_t i = 0; i < a.axes.size(); ++i) {
      if (i) t.label += ", ";
      t.label += a.axes[i].name + " " + axis_label(a.axes[i], t.index[i]);
    }
    t.effect = g.effect[c];
    t.mean = g.mean[c];
    t.sem = g.sem[c];
    t.fraction_recovered = g.has_fraction ? g.fraction_recovered[c] : kNaN;
    t.n_done = g.n_done[c];
    top.push_back(std::move(t));
  }
  return top;
}

}  // namespace csweep::report
