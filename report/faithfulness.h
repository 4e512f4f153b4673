#pragma once
// circuit_faithfulness's reduce (MIB, Mueller et al. 2025): the faithfulness of each circuit size
// f(n) = (m(C_n) - m(empty)) / (m(N) - m(empty)) from the metric's means over prompts (the grid's
// first size is the empty circuit, its last the full model N), CPR (the area under f over the
// fraction of the universe's nodes kept, trapezoid), CMD (the area under |1 - f|), percentile
// bootstrap confidence intervals over prompts, and the chosen circuit (the smallest size with
// f >= the threshold) as a graph. Written to sweep.h5 (/analyses/NAME/faithfulness, docs/store.md)
// and drawn in report.html (the curve and the graph as inline SVG).
#include <cstdint>
#include <filesystem>
#include <limits>
#include <ostream>
#include <string>
#include <vector>

#include "report/h5_write.h"
#include "report/reduce_input.h"

namespace csweep::report {

bool is_circuit_analysis(const AnalysisInput& a);  // kind circuit_faithfulness over [size]

// f per size from the mean metric per size (front: the empty circuit, back: the full model);
// exactly 0 at the front and 1 at the back (NaN everywhere when they are equal).
std::vector<double> faithfulness(const std::vector<double>& mean_by_size);
// The trapezoid area under y over x.
double area_under(const std::vector<double>& x, const std::vector<double>& y);

struct Interval {
  double lo = std::numeric_limits<double>::quiet_NaN();
  double hi = std::numeric_limits<double>::quiet_NaN();
};

struct FaithfulnessCurve {
  std::vector<int64_t> sizes;    // node counts (the size axis)
  std::vector<double> fraction;  // sizes / the last size (the universe's nodes)
  std::vector<double> faithfulness;
  std::vector<Interval> faithfulness_ci;
  double cpr = std::numeric_limits<double>::quiet_NaN();
  double cmd = std::numeric_limits<double>::quiet_NaN();
  Interval cpr_ci, cmd_ci;
  int64_t prompts = 0;  // prompts with every size done (the others are left out)
  int64_t resamples = 0;
  uint64_t seed = 0;
  double confidence = 0.95;
  std::string unit = "nodes";  // what the sizes count: nodes, or edges (universe edges)
};

// per_prompt[p][i]: prompt p's metric at sizes[i]. Bootstrap: `resamples` draws of the prompts
// with replacement (seeded; the same seed gives the same intervals), 95 % percentile intervals.
FaithfulnessCurve faithfulness_curve(const std::vector<int64_t>& sizes,
                                     const std::vector<std::vector<double>>& per_prompt,
                                     int64_t resamples, uint64_t seed);
// The analysis's curve (options: bootstrap, seed).
FaithfulnessCurve faithfulness_curve(const AnalysisInput& a);

struct CircuitGraph {
  struct Node {
    std::string label;  // "a1.h2", "m0"
    int64_t layer = 0;
    bool mlp = false;
    double weight = 1.0;  // the node's score (1 when written by hand)
  };
  struct Edge {
    int64_t from = 0, to = 0;  // indices into nodes, from the earlier row
    double weight = 1.0;       // the product of its nodes' weights; an edge circuit's: its score
    std::string label;         // an edge circuit's: "a0.h0->a1.h2.k"
  };
  std::vector<Node> nodes;
  std::vector<Edge> edges;
  int64_t size = -1;  // the chosen size; -1 when no size reaches the threshold
  double faithfulness = std::numeric_limits<double>::quiet_NaN();
  double threshold = 0.8;
};

// The smallest size with f >= threshold: its first `size` ranked nodes (options: nodes, scores,
// threshold), each edge joining nodes of consecutive occupied rows (a layer's heads, then its MLP);
// or, for a circuit of edges (options: edges), its first `size` edges and their endpoints.
CircuitGraph chosen_circuit(const AnalysisInput& a, const FaithfulnessCurve& curve);

std::string curve_svg(const FaithfulnessCurve& curve, double threshold);
std::string circuit_svg(const CircuitGraph& graph);

// The curve as STEM.svg (beside the heatmaps); returns its path.
std::filesystem::path write_faithfulness_svg(const AnalysisInput& a,
                                             const std::filesystem::path& stem);
void write_faithfulness_h5(const h5::Writer& w, hid_t group, const AnalysisInput& a);
void write_faithfulness_html(std::ostream& o, const AnalysisInput& a);

}  // namespace csweep::report
