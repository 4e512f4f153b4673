// circuit_faithfulness: circuits of the first n of a ranked node list (heads, MLPs) for a grid of
// sizes n; each cell is the metric with the rest of the model's nodes ablated (MIB, Mueller et al.
// 2025). reduce turns the cells into the faithfulness curve, CPR and CMD (report/faithfulness.h).
// Computed in analyses/circuit_faithfulness_cells.cpp.
#include <algorithm>
#include <charconv>
#include <cmath>
#include <functional>

#include "jobs/kinds/kind_options.h"
#include "jobs/kinds/kind_reader.h"
#include "jobs/yaml_fields.h"

namespace csweep::jobs {
namespace {

using Node = CircuitFaithfulnessOptions::Node;

// "aL.hH" (head H of layer L) or "mL" (the MLP of layer L); nullopt for any other text.
std::optional<Node> parse_node(const std::string& text) {
  const char* p = text.data();
  const char* end = p + text.size();
  auto number = [&](int64_t& v) {
    const auto res = std::from_chars(p, end, v);
    p = res.ptr;
    return res.ec == std::errc() && v >= 0;
  };
  Node n;
  if (p == end || (*p != 'a' && *p != 'm')) return std::nullopt;
  const bool head = *p++ == 'a';
  if (!number(n.layer)) return std::nullopt;
  if (head) {
    if (end - p < 2 || p[0] != '.' || p[1] != 'h') return std::nullopt;
    p += 2;
    if (!number(n.head)) return std::nullopt;
  }
  return p == end ? std::optional<Node>(n) : std::nullopt;
}

// Reads `key` as a sequence, each entry through `entry` (which reports its own error and
// returns false); false when the key is not a non-empty sequence.
bool read_list(KindReader& r, const char* key,
               const std::function<bool(const YAML::Node&, const std::string&)>& entry) {
  const YAML::Node& list = r.node()[key];
  const std::string path = r.path() + "." + key;
  if (!expect_sequence(r.context().src, list, path)) {
    r.record(false);
    return false;
  }
  if (list.size() == 0) r.error(key, "empty list");
  for (size_t i = 0; i < list.size(); ++i)
    r.record(entry(list[i], path + "[" + std::to_string(i) + "]"));
  return list.size() > 0;
}

std::vector<Node> read_nodes(KindReader& r, bool mlps) {
  std::vector<Node> out;
  if (r.has("edges")) {
    r.error("edges", "a circuit of edges needs universe: edges");
    return out;
  }
  if (!r.has("nodes") && r.has("from")) return out;  // a stage ranks them (docs/jobs.md, Stages)
  if (r.has("nodes") && r.has("from")) r.fail("from", "give nodes or from, not both");
  if (!r.has("nodes")) {
    r.error("nodes", "required: the ranked node list, e.g. [a0.h0, a1.h2, m1] (or from: a stage)");
    return out;
  }
  const Source& src = r.context().src;
  const model::ModelConfig* c = r.config();
  read_list(r, "nodes", [&](const YAML::Node& item, const std::string& at) {
    const auto text = read_string(src, item, at);
    if (!text) return false;
    const auto n = parse_node(*text);
    std::string why;
    if (!n)
      why = "\"" + *text + "\" is neither aL.hH (a head) nor mL (an MLP), e.g. a1.h2 or m0";
    else if (c && n->layer >= c->n_layers)
      why = "layer " + std::to_string(n->layer) + " out of range (model has " +
            std::to_string(c->n_layers) + " layers)";
    else if (c && n->head >= c->n_heads)
      why = "head " + std::to_string(n->head) + " out of range (model has " +
            std::to_string(c->n_heads) + " heads)";
    else if (n->head < 0 && !mlps)
      why = *text + " is an MLP: give universe: heads_and_mlps";
    for (const Node& m : out)
      if (n && m.layer == n->layer && m.head == n->head) why = "\"" + *text + "\" listed twice";
    if (!why.empty()) {
      src.error(item, at + ": " + why);
      return false;
    }
    out.push_back(*n);
    return true;
  });
  return out;
}

// universe edges: `edges:`, edge_attribution's labels ranked (or from: a stage); `all` is every
// edge of the model (null when the model was reported).
void read_edges(KindReader& r, CircuitFaithfulnessOptions& o, const Axis* all) {
  if (r.has("nodes")) {
    r.error("nodes", "a circuit of edges lists edges:, e.g. [a0.h2->m1]");
    return;
  }
  if (!r.has("edges") && r.has("from")) return;  // a stage ranks them (docs/jobs.md, Stages)
  if (r.has("edges") && r.has("from")) r.fail("from", "give edges or from, not both");
  if (!r.has("edges")) {
    r.error("edges",
            "required: the ranked edge list, e.g. [a0.h2->m1, m1->logits] (or from: a "
            "stage)");
    return;
  }
  const Source& src = r.context().src;
  read_list(r, "edges", [&](const YAML::Node& item, const std::string& at) {
    const auto text = read_string(src, item, at);
    if (!text) return false;
    std::string why;
    int64_t value = -1;
    if (all) {
      const auto it = std::find(all->labels.begin(), all->labels.end(), *text);
      if (it == all->labels.end())
        why = "\"" + *text +
              "\" is not an edge of this model (sender->receiver, e.g. embed->a0.h1.q, a0.h2->m1, "
              "m1->logits)";
      else
        value = all->values.at(static_cast<size_t>(it - all->labels.begin()));
    }
    if (std::find(o.edges.begin(), o.edges.end(), *text) != o.edges.end())
      why = "\"" + *text + "\" listed twice";
    if (!why.empty()) {
      src.error(item, at + ": " + why);
      return false;
    }
    o.edges.push_back(*text);
    o.edge_values.push_back(value);
    return true;
  });
}

// `sizes:` counts in 1..|nodes| (or |edges|: `unit` says which), or `fractions:` of the list in
// (0, 1] (rounded up); neither: every count. Sorted, without repeats.
std::vector<int64_t> read_sizes(KindReader& r, int64_t n_nodes, const std::string& unit) {
  const Source& src = r.context().src;
  std::vector<int64_t> out;
  if (r.has("sizes") && r.has("fractions"))
    r.fail("fractions", "give sizes or fractions, not both");
  if (r.has("sizes")) {
    read_list(r, "sizes", [&](const YAML::Node& item, const std::string& at) {
      const auto v = read_int(src, item, at);
      if (v && (*v < 1 || *v > n_nodes)) {
        src.error(item, at + ": " + std::to_string(*v) + " is not a" +
                            (unit == "edge" ? "n " : " ") + unit + " count in 1.." +
                            std::to_string(n_nodes) + " (the " + unit + "s listed)");
        return false;
      }
      if (v) out.push_back(*v);
      return v.has_value();
    });
  } else if (r.has("fractions")) {
    read_list(r, "fractions", [&](const YAML::Node& item, const std::string& at) {
      const auto v = read_double(src, item, at);
      if (v && !(*v > 0.0 && *v <= 1.0)) {
        src.error(item, at + ": a fraction of the " + unit + "s is in (0, 1]");
        return false;
      }
      if (v) out.push_back(static_cast<int64_t>(std::ceil(*v * static_cast<double>(n_nodes))));
      return v.has_value();
    });
  } else {
    for (int64_t n = 1; n <= n_nodes; ++n) out.push_back(n);
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

void read_circuit_faithfulness(KindReader& r, AnalysisSpec& a) {
  auto o = std::make_shared<CircuitFaithfulnessOptions>();
  a.options = o;  // set before any failure: callers read the defaults of an empty map
  if (r.has("layers")) r.error("layers", "not taken: the universe spans every layer of the model");
  o->universe = r.choice("universe", {"heads", "heads_and_mlps", "edges"}, o->universe);
  o->ablation = r.choice("ablation", {"patch", "mean", "zero"}, o->ablation);
  o->threshold = r.positive("threshold", o->threshold);
  o->bootstrap = r.integer("bootstrap", o->bootstrap, 1);
  o->seed = r.seed("seed");
  const bool mlps = o->universe == "heads_and_mlps";
  std::optional<Axis> all_edges;
  if (const model::ModelConfig* c = r.config()) {
    if (o->universe == "edges") all_edges = model_edges(*c);
    o->universe_size = all_edges ? all_edges->size : c->n_layers * (c->n_heads + (mlps ? 1 : 0));
  }
  if (o->universe == "edges")
    read_edges(r, *o, all_edges ? &*all_edges : nullptr);
  else
    o->nodes = read_nodes(r, mlps);
  // With from:, the stage's top_k nodes (checked by the stage reader, jobs/analyses_reader.cpp).
  int64_t n_nodes = static_cast<int64_t>(o->nodes.size() + o->edges.size());
  if (!r.has("nodes") && r.has("from")) {  // a missing key's node is invalid: IsMap() throws
    const YAML::Node from = r.node()["from"];
    if (from.IsMap() && from["top_k"]) n_nodes = std::max<int64_t>(0, from["top_k"].as<int64_t>(0));
  }
  o->sizes = read_sizes(r, n_nodes, o->universe == "edges" ? "edge" : "node");
}

// [size]: 0 (the empty circuit), the counts asked for, and the universe's size (the full model).
std::vector<Axis> circuit_faithfulness_grid(const AnalysisSpec& a) {
  const auto& o = a.options_as<CircuitFaithfulnessOptions>();
  std::vector<int64_t> sizes{0};
  for (int64_t n : o.sizes)
    if (n > sizes.back() && (o.universe_size == 0 || n < o.universe_size)) sizes.push_back(n);
  if (o.universe_size > 0) sizes.push_back(o.universe_size);
  return {index_axis("size", sizes)};
}

}  // namespace

Node circuit_node_of(const AnalysisSpec& source, int64_t grid_cell) {
  const std::vector<Axis> g = source.kind->grid(source);
  const int64_t heads = g.size() == 2 ? g[1].size : 1;
  Node n;
  n.layer = g.at(0).values.at(static_cast<size_t>(grid_cell / heads));
  if (g.size() == 2) n.head = g[1].values.at(static_cast<size_t>(grid_cell % heads));
  return n;
}

std::string circuit_item_label(const AnalysisSpec& source, int64_t grid_cell) {
  if (source.kind->name == "edge_attribution")
    return source.kind->grid(source).at(0).labels.at(static_cast<size_t>(grid_cell));
  return circuit_node_label(circuit_node_of(source, grid_cell));
}

std::string circuit_node_label(const Node& n) {
  std::string s = n.head < 0 ? "m" : "a";
  s += std::to_string(n.layer);
  if (n.head >= 0) s += ".h" + std::to_string(n.head);
  return s;
}

nlohmann::json CircuitFaithfulnessOptions::to_json() const {
  std::vector<std::string> labels;
  for (const Node& n : nodes) labels.push_back(circuit_node_label(n));
  nlohmann::json j = {{"nodes", labels},      {"sizes", sizes},         {"ablation", ablation},
                      {"universe", universe}, {"threshold", threshold}, {"bootstrap", bootstrap},
                      {"seed", seed}};
  if (universe == "edges") {
    j.erase("nodes");
    j["edges"] = edges;
  }
  if (!scores.empty()) j["scores"] = scores;
  return j;
}

const Kind& circuit_faithfulness_kind() {
  static const Kind k = [] {
    Kind k;
    k.name = "circuit_faithfulness";
    k.keys = {"nodes",    "edges",     "sizes",     "fractions", "ablation",
              "universe", "threshold", "bootstrap", "seed"};
    k.read = read_circuit_faithfulness;
    k.grid = circuit_faithfulness_grid;
    k.cost = [](const AnalysisSpec& a, const model::ModelConfig& c) {
      KindCost cost;
      cost.per_cell_forward = true;  // one row per size; the clean and corrupted caches
      // A circuit of edges runs every block over one row per receiver (each head's q, k and v
      // inputs and the MLP's: edge_attribution's H + 2 Hkv + 1) for each size.
      if (a.options_as<CircuitFaithfulnessOptions>().universe == "edges")
        cost.rows_per_cell = c.n_heads + 2 * c.n_kv_heads + 1;
      return cost;
    };
    // The empty circuit and the full model are cells of the grid: reduce's faithfulness
    // (report/faithfulness.h) needs no recorded baselines.
    k.reduce.value_label = "{metric} of the circuit (the rest ablated)";
    return k;
  }();
  return k;
}

}  // namespace csweep::jobs
