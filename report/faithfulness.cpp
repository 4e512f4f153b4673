#include "report/faithfulness.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <map>
#include <sstream>

#include "common/error.h"
#include "report/html_report.h"

namespace csweep::report {
namespace {

constexpr double kNoFaithfulness = std::numeric_limits<double>::quiet_NaN();

// splitmix64: the same draws on every platform for a seed (std:: distributions are not).
struct Draws {
  uint64_t state;
  uint64_t next() {
    uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
};

std::vector<double> absolute_gap(const std::vector<double>& f) {
  std::vector<double> out;
  for (double v : f) out.push_back(std::abs(1.0 - v));
  return out;
}

// f, CPR and CMD of the prompts picked (indices into per_prompt, repeats allowed).
struct Point {
  std::vector<double> f;
  double cpr, cmd;
};
Point point_of(const std::vector<double>& fraction,
               const std::vector<std::vector<double>>& per_prompt,
               const std::vector<size_t>& picked) {
  std::vector<double> mean(fraction.size(), 0.0);
  for (size_t p : picked)
    for (size_t i = 0; i < mean.size(); ++i) mean[i] += per_prompt[p][i];
  for (double& m : mean) m /= static_cast<double>(picked.size());
  Point out{faithfulness(mean), 0.0, 0.0};
  out.cpr = area_under(fraction, out.f);
  out.cmd = area_under(fraction, absolute_gap(out.f));
  return out;
}

// The percentile interval of `v` at the curve's confidence (linear between order statistics).
Interval percentile_interval(std::vector<double> v, double confidence) {
  v.erase(std::remove_if(v.begin(), v.end(), [](double x) { return std::isnan(x); }), v.end());
  if (v.empty()) return {};
  std::sort(v.begin(), v.end());
  auto at = [&](double q) {
    const double pos = q * static_cast<double>(v.size() - 1);
    const auto i = static_cast<size_t>(std::floor(pos));
    const size_t j = std::min(i + 1, v.size() - 1);
    return v[i] + (pos - static_cast<double>(i)) * (v[j] - v[i]);
  };
  const double tail = (1.0 - confidence) / 2.0;
  return {at(tail), at(1.0 - tail)};
}

// "a1.h2" -> layer 1, head; "m0" -> the MLP of layer 0; "embed" -> layer -1 (above every block).
CircuitGraph::Node parse_node(const std::string& label, double weight) {
  CircuitGraph::Node n{label, 0, !label.empty() && label[0] == 'm', weight};
  long long layer = 0;
  if (label == "embed") n.layer = -1;
  if (std::sscanf(label.c_str() + (label.empty() ? 0 : 1), "%lld", &layer) == 1) n.layer = layer;
  return n;
}

// A row's name on the left of the drawing: "attn 1", "mlp 1", "embed", "logits".
std::string row_name(const CircuitGraph::Node& n) {
  if (n.label == "embed" || n.label == "logits") return n.label;
  return (n.mlp ? "mlp " : "attn ") + std::to_string(n.layer);
}

int64_t row_of(const CircuitGraph::Node& n) { return 2 * n.layer + (n.mlp ? 1 : 0); }

std::string fmt(double v, const char* spec = "%.3f") {
  if (std::isnan(v)) return "NaN";
  char buf[32];
  std::snprintf(buf, sizeof buf, spec, v);
  return buf;
}

std::string with_ci(double v, const Interval& ci) {
  return fmt(v) + " [" + fmt(ci.lo) + ", " + fmt(ci.hi) + "]";
}

}  // namespace

bool is_circuit_analysis(const AnalysisInput& a) {
  return a.kind == "circuit_faithfulness" && a.axes.size() == 1 && a.axes[0].name == "size" &&
         a.axes[0].size >= 2;
}

std::vector<double> faithfulness(const std::vector<double>& mean_by_size) {
  if (mean_by_size.size() < 2) return std::vector<double>(mean_by_size.size(), kNoFaithfulness);
  const double empty = mean_by_size.front(), full = mean_by_size.back();
  std::vector<double> f;
  for (double m : mean_by_size)
    f.push_back(full == empty ? kNoFaithfulness : (m - empty) / (full - empty));
  if (full != empty) f.front() = 0.0, f.back() = 1.0;  // exactly, whatever the rounding
  return f;
}

double area_under(const std::vector<double>& x, const std::vector<double>& y) {
  double area = 0.0;
  for (size_t i = 1; i < x.size() && i < y.size(); ++i)
    area += (x[i] - x[i - 1]) * (y[i] + y[i - 1]) / 2.0;
  return area;
}

FaithfulnessCurve faithfulness_curve(const std::vector<int64_t>& sizes,
                                     const std::vector<std::vector<double>>& per_prompt,
                                     int64_t resamples, uint64_t seed) {
  FaithfulnessCurve c;
  c.sizes = sizes;
  c.resamples = resamples;
  c.seed = seed;
  c.prompts = static_cast<int64_t>(per_prompt.size());
  const double universe = sizes.empty() ? 0.0 : static_cast<double>(sizes.back());
  for (int64_t n : sizes)
    c.fraction.push_back(universe > 0 ? static_cast<double>(n) / universe : 0);
  c.faithfulness.assign(sizes.size(), kNoFaithfulness);
  c.faithfulness_ci.assign(sizes.size(), Interval{});
  if (per_prompt.empty()) return c;
  std::vector<size_t> all(per_prompt.size());
  for (size_t p = 0; p < all.size(); ++p) all[p] = p;
  const Point point = point_of(c.fraction, per_prompt, all);
  c.faithfulness = point.f;
  c.cpr = point.cpr;
  c.cmd = point.cmd;
  std::vector<std::vector<double>> f_draws(sizes.size());
  std::vector<double> cpr_draws, cmd_draws;
  Draws rng{seed};
  std::vector<size_t> picked(all.size());
  for (int64_t b = 0; b < resamples; ++b) {
    for (size_t& p : picked) p = static_cast<size_t>(rng.next() % all.size());
    const Point d = point_of(c.fraction, per_prompt, picked);
    for (size_t i = 0; i < sizes.size(); ++i) f_draws[i].push_back(d.f[i]);
    cpr_draws.push_back(d.cpr);
    cmd_draws.push_back(d.cmd);
  }
  for (size_t i = 0; i < sizes.size(); ++i)
    c.faithfulness_ci[i] = percentile_interval(f_draws[i], c.confidence);
  c.cpr_ci = percentile_interval(cpr_draws, c.confidence);
  c.cmd_ci = percentile_interval(cmd_draws, c.confidence);
  return c;
}

FaithfulnessCurve faithfulness_curve(const AnalysisInput& a) {
  const AxisInfo& axis = a.axes.at(0);
  std::vector<int64_t> sizes;
  for (int64_t i = 0; i < axis.size; ++i) sizes.push_back(axis.value(i));
  std::vector<std::vector<double>> per_prompt;  // prompts with every size done
  for (size_t p = 0; p < a.values.size(); ++p) {
    if (std::find(a.done[p].begin(), a.done[p].end(), 0) != a.done[p].end()) continue;
    per_prompt.emplace_back(a.values[p].begin(), a.values[p].end());
  }
  const int64_t resamples =
      a.options.is_object() ? a.options.value("bootstrap", int64_t{1000}) : 1000;
  const uint64_t seed = a.options.is_object() ? a.options.value("seed", uint64_t{0}) : 0;
  FaithfulnessCurve c = faithfulness_curve(sizes, per_prompt, resamples, seed);
  if (a.options.is_object() && a.options.value("universe", "") == "edges") c.unit = "edges";
  return c;
}

// The first `kept` ranked edges ("a0.h0->a1.h2.k") as a graph: their endpoints are its nodes (a
// head's q, k and v inputs are the head), the edges keep their labels and scores.
void add_edges(CircuitGraph& g, const std::vector<std::string>& edges,
               const std::vector<double>& scores, size_t kept) {
  std::map<std::string, int64_t> index;
  auto node = [&](std::string label) {
    if (label.size() > 2 && label[0] == 'a' && label[label.size() - 2] == '.')
      label.resize(label.size() - 2);  // "a1.h2.k" -> "a1.h2"
    if (!index.count(label)) {
      index[label] = static_cast<int64_t>(g.nodes.size());
      g.nodes.push_back(parse_node(label, 1.0));
    }
    return index[label];
  };
  for (size_t i = 0; i < kept && i < edges.size(); ++i) {
    const size_t arrow = edges[i].find("->");
    if (arrow == std::string::npos) continue;
    const int64_t from = node(edges[i].substr(0, arrow)), to = node(edges[i].substr(arrow + 2));
    g.edges.push_back({from, to, i < scores.size() ? scores[i] : 1.0, edges[i]});
  }
  int64_t last = 0;  // the logits sit below the last block that appears
  for (const auto& n : g.nodes) last = std::max(last, n.layer + 1);
  for (auto& n : g.nodes)
    if (n.label == "logits") n.layer = last;
}

CircuitGraph chosen_circuit(const AnalysisInput& a, const FaithfulnessCurve& curve) {
  CircuitGraph g;
  std::vector<std::string> labels, edges;
  std::vector<double> scores;
  if (a.options.is_object()) {
    g.threshold = a.options.value("threshold", 0.8);
    labels = a.options.value("nodes", std::vector<std::string>{});
    edges = a.options.value("edges", std::vector<std::string>{});
    scores = a.options.value("scores", std::vector<double>{});
  }
  for (size_t i = 0; i < curve.sizes.size(); ++i) {
    if (!(curve.faithfulness[i] >= g.threshold)) continue;
    g.size = curve.sizes[i];
    g.faithfulness = curve.faithfulness[i];
    break;
  }
  if (g.size < 0) return g;
  if (!edges.empty()) {
    add_edges(g, edges, scores, static_cast<size_t>(g.size));
    return g;
  }
  const size_t kept = std::min(static_cast<size_t>(g.size), labels.size());
  for (size_t i = 0; i < kept; ++i)
    g.nodes.push_back(parse_node(labels[i], i < scores.size() ? scores[i] : 1.0));
  std::map<int64_t, std::vector<int64_t>> rows;  // row -> nodes
  for (size_t i = 0; i < g.nodes.size(); ++i)
    rows[row_of(g.nodes[i])].push_back(static_cast<int64_t>(i));
  for (auto it = rows.begin(); it != rows.end() && std::next(it) != rows.end(); ++it)
    for (int64_t from : it->second)
      for (int64_t to : std::next(it)->second)
        g.edges.push_back({from, to, g.nodes[from].weight * g.nodes[to].weight, ""});
  return g;
}

std::string curve_svg(const FaithfulnessCurve& c, double threshold) {
  const double w = 480, h = 300, left = 56, right = 16, top = 16, bottom = 44;
  double lo = 0.0, hi = 1.0;
  for (size_t i = 0; i < c.sizes.size(); ++i) {
    for (double v : {c.faithfulness[i], c.faithfulness_ci[i].lo, c.faithfulness_ci[i].hi})
      if (!std::isnan(v)) lo = std::min(lo, v), hi = std::max(hi, v);
  }
  hi += 0.05 * (hi - lo);
  auto px = [&](double x) { return left + x * (w - left - right); };
  auto py = [&](double y) { return top + (hi - y) / (hi - lo) * (h - top - bottom); };
  std::ostringstream o;
  o << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << w << "\" height=\"" << h
    << "\" viewBox=\"0 0 " << w << " " << h << "\" font-family=\"sans-serif\" font-size=\"11\">"
    << "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>";
  for (double y : {0.0, 1.0, threshold})
    o << "<line x1=\"" << px(0) << "\" x2=\"" << px(1) << "\" y1=\"" << py(y) << "\" y2=\"" << py(y)
      << "\" stroke=\"#999\" stroke-dasharray=\"" << (y == threshold ? "2,3" : "4,3")
      << "\"/><text x=\"" << left - 6 << "\" y=\"" << py(y) + 4 << "\" text-anchor=\"end\">"
      << fmt(y, "%.2g") << "</text>";
  for (double x : {0.0, 0.25, 0.5, 0.75, 1.0})
    o << "<text x=\"" << px(x) << "\" y=\"" << h - bottom + 16 << "\" text-anchor=\"middle\">"
      << fmt(x, "%.2g") << "</text>";
  o << "<text x=\"" << px(0.5) << "\" y=\"" << h - 8 << "\" text-anchor=\"middle\">fraction of the "
    << c.unit << " kept</text><text transform=\"translate(14," << py((lo + hi) / 2)
    << ") rotate(-90)\" text-anchor=\"middle\">faithfulness</text>";
  std::string band_up, band_down, line;
  for (size_t i = 0; i < c.sizes.size(); ++i) {
    const Interval& ci = c.faithfulness_ci[i];
    if (!std::isnan(ci.lo))
      band_up += fmt(px(c.fraction[i]), "%.1f") + "," + fmt(py(ci.hi), "%.1f") + " ";
    const size_t j = c.sizes.size() - 1 - i;
    if (!std::isnan(c.faithfulness_ci[j].lo))
      band_down +=
          fmt(px(c.fraction[j]), "%.1f") + "," + fmt(py(c.faithfulness_ci[j].lo), "%.1f") + " ";
    if (!std::isnan(c.faithfulness[i]))
      line += fmt(px(c.fraction[i]), "%.1f") + "," + fmt(py(c.faithfulness[i]), "%.1f") + " ";
  }
  o << "<polygon points=\"" << band_up << band_down << "\" fill=\"#1f77b4\" fill-opacity=\"0.2\"/>"
    << "<polyline points=\"" << line << "\" fill=\"none\" stroke=\"#1f77b4\" stroke-width=\"2\"/>";
  for (size_t i = 0; i < c.sizes.size(); ++i)
    if (!std::isnan(c.faithfulness[i]))
      o << "<circle cx=\"" << px(c.fraction[i]) << "\" cy=\"" << py(c.faithfulness[i])
        << "\" r=\"3\" fill=\"#1f77b4\"><title>" << c.sizes[i] << " " << c.unit << ": "
        << with_ci(c.faithfulness[i], c.faithfulness_ci[i]) << "</title></circle>";
  o << "</svg>";
  return o.str();
}

std::string circuit_svg(const CircuitGraph& g) {
  std::map<int64_t, std::vector<int64_t>> rows;
  for (size_t i = 0; i < g.nodes.size(); ++i)
    rows[row_of(g.nodes[i])].push_back(static_cast<int64_t>(i));
  size_t widest = 1;
  for (const auto& [row, nodes] : rows) widest = std::max(widest, nodes.size());
  const double w = 90.0 * static_cast<double>(widest) + 100, step = 64;
  const double h = step * static_cast<double>(rows.size()) + 16;
  std::vector<double> x(g.nodes.size()), y(g.nodes.size());
  double row_y = 8 + step / 2;
  for (const auto& [row, nodes] : rows) {  // earliest layer at the top
    for (size_t k = 0; k < nodes.size(); ++k) {
      x[nodes[k]] =
          80 + (w - 100) * (static_cast<double>(k) + 0.5) / static_cast<double>(nodes.size());
      y[nodes[k]] = row_y;
    }
    row_y += step;
  }
  std::ostringstream o;
  o << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << w << "\" height=\"" << h
    << "\" font-family=\"sans-serif\" font-size=\"12\"><rect width=\"100%\" height=\"100%\" "
       "fill=\"white\"/>";
  row_y = 8 + step / 2;
  for (const auto& [row, nodes] : rows) {
    o << "<text x=\"8\" y=\"" << row_y + 4 << "\" fill=\"#666\">"
      << html_escape(row_name(g.nodes[nodes.front()])) << "</text>";
    row_y += step;
  }
  for (const auto& e : g.edges)
    o << "<line class=\"edge\" x1=\"" << x[e.from] << "\" y1=\"" << y[e.from] << "\" x2=\""
      << x[e.to] << "\" y2=\"" << y[e.to] << "\" stroke=\"#888\" stroke-width=\""
      << fmt(1.0 + 2.0 * std::min(1.0, std::abs(e.weight)), "%.2f") << "\"><title>"
      << html_escape(e.label.empty() ? g.nodes[e.from].label + " -> " + g.nodes[e.to].label
                                     : e.label)
      << " weight " << fmt(e.weight) << "</title></line>";
  for (size_t i = 0; i < g.nodes.size(); ++i)
    o << "<g class=\"node\"><rect x=\"" << x[i] - 30 << "\" y=\"" << y[i] - 13
      << "\" width=\"60\" height=\"26\" rx=\"6\" fill=\""
      << (g.nodes[i].mlp ? "#fdd9b5" : "#cfe2f3") << "\" stroke=\"#333\"/><text x=\"" << x[i]
      << "\" y=\"" << y[i] + 4 << "\" text-anchor=\"middle\">" << html_escape(g.nodes[i].label)
      << "</text><title>weight " << fmt(g.nodes[i].weight) << "</title></g>";
  o << "</svg>";
  return o.str();
}

std::filesystem::path write_faithfulness_svg(const AnalysisInput& a,
                                             const std::filesystem::path& stem) {
  const FaithfulnessCurve c = faithfulness_curve(a);
  const std::filesystem::path path = stem.string() + ".svg";
  std::ofstream out(path, std::ios::binary);
  out << curve_svg(c, chosen_circuit(a, c).threshold);
  if (!out) throw error_at(path.string(), "", "cannot write the faithfulness curve");
  return path;
}

void write_faithfulness_h5(const h5::Writer& w, hid_t group, const AnalysisInput& a) {
  const FaithfulnessCurve c = faithfulness_curve(a);
  const CircuitGraph g = chosen_circuit(a, c);
  h5::Handle f = w.group(group, "faithfulness");
  const hsize_t n = c.sizes.size();
  auto pairs = [](const std::vector<Interval>& v) {
    std::vector<double> out;
    for (const auto& i : v) out.push_back(i.lo), out.push_back(i.hi);
    return out;
  };
  w.int64s(f, "size", {n}, c.sizes.data());
  w.doubles(f, "fraction", {n}, c.fraction.data());
  h5::Handle fd = w.doubles(f, "faithfulness", {n}, c.faithfulness.data());
  w.attr(fd, "definition",
         std::string("(mean m(C_n) - mean m(empty)) / (mean m(N) - mean m(empty))"));
  w.doubles(f, "faithfulness_ci", {n, 2}, pairs(c.faithfulness_ci).data());
  w.doubles(f, "cpr", {}, &c.cpr);
  w.doubles(f, "cmd", {}, &c.cmd);
  w.doubles(f, "cpr_ci", {2}, pairs({c.cpr_ci}).data());
  w.doubles(f, "cmd_ci", {2}, pairs({c.cmd_ci}).data());
  w.attr(f, "prompts", c.prompts);
  w.attr(f, "resamples", c.resamples);
  w.attr(f, "seed", static_cast<int64_t>(c.seed));
  w.attr(f, "confidence", c.confidence);
  h5::Handle cg = w.group(f, "circuit");
  w.attr(cg, "size", g.size);
  w.attr(cg, "faithfulness", g.faithfulness);
  w.attr(cg, "threshold", g.threshold);
  std::vector<std::string> labels, edge_labels;
  std::vector<int64_t> layers, edges;
  std::vector<double> weights, edge_weights;
  for (const auto& node : g.nodes) {
    labels.push_back(node.label);
    layers.push_back(node.layer);
    weights.push_back(node.weight);
  }
  for (const auto& e : g.edges) {
    edges.push_back(e.from), edges.push_back(e.to);
    edge_weights.push_back(e.weight);
    if (!e.label.empty()) edge_labels.push_back(e.label);
  }
  const hsize_t nn = g.nodes.size(), ne = g.edges.size();
  w.strings(cg, "nodes", {nn}, labels);
  w.int64s(cg, "node_layer", {nn}, layers.data());
  w.doubles(cg, "node_weight", {nn}, weights.data());
  w.int64s(cg, "edges", {ne, 2}, edges.data());
  w.doubles(cg, "edge_weight", {ne}, edge_weights.data());
  if (c.unit == "edges") w.strings(cg, "edge_labels", {ne}, edge_labels);
}

void write_faithfulness_html(std::ostream& o, const AnalysisInput& a) {
  const FaithfulnessCurve c = faithfulness_curve(a);
  const CircuitGraph g = chosen_circuit(a, c);
  o << "<h3>Faithfulness</h3>\n<p>f = (m(C) &minus; m(empty)) / (m(N) &minus; m(empty)) from the "
       "means over "
    << c.prompts << " prompts; [" << fmt(100 * c.confidence, "%.0f") << " % bootstrap interval, "
    << c.resamples << " resamples, seed " << c.seed << "]. CPR (area under f) "
    << with_ci(c.cpr, c.cpr_ci) << ", CMD (area between f and 1) " << with_ci(c.cmd, c.cmd_ci)
    << ".</p>\n<figure class=\"faithfulness\">" << curve_svg(c, g.threshold)
    << "</figure>\n<table><tr><th>" << c.unit << "</th><th>fraction</th><th>faithfulness</th></tr>";
  for (size_t i = 0; i < c.sizes.size(); ++i)
    o << "<tr><td>" << c.sizes[i] << "</td><td>" << fmt(c.fraction[i]) << "</td><td>"
      << with_ci(c.faithfulness[i], c.faithfulness_ci[i]) << "</td></tr>";
  o << "</table>\n<h3>Chosen circuit</h3>\n";
  if (g.size < 0) {
    o << "<p>No size reaches faithfulness " << fmt(g.threshold) << ".</p>\n";
    return;
  }
  o << "<p>The smallest circuit with f &ge; " << fmt(g.threshold) << ": " << g.size << " " << c.unit
    << ", f = " << fmt(g.faithfulness) << "; layers top to bottom.</p>\n"
    << "<figure class=\"circuit\">" << circuit_svg(g) << "</figure>\n";
}

}  // namespace csweep::report
