// edge_attribution: EAP (Syed et al. 2023) and EAP-IG (Hanna et al. 2024) score every edge
// sender -> receiver of the model's computational graph from a few forwards and backwards per
// prompt. Senders: the embedding, each head's output, each MLP's output; receivers: each head's
// q, k and v inputs, each MLP's input, the logits. The grid is one axis, "edge", labelled
// "embed->a1.h3.q", "a0.h2->m1", "m1->logits". Computed in analyses/edge_attribution_cells.cpp,
// which decodes the values (sender * receivers + receiver) with the numbering written here.
#include "jobs/kinds/kind_options.h"
#include "jobs/kinds/kind_reader.h"

namespace csweep::jobs {
namespace {

void set_graph(EdgeAttributionOptions& o, const model::ModelConfig& c) {
  o.layers = c.n_layers;
  o.heads = c.n_heads;
  o.kv_heads = c.n_kv_heads;
  o.parallel_residual = c.parallel_residual;
}

void read_edge_attribution(KindReader& r, AnalysisSpec& a) {
  auto o = std::make_shared<EdgeAttributionOptions>();
  if (r.has("layers")) r.error("layers", "edge_attribution scores every edge of every layer");
  o->method = r.choice("method", {"eap", "eap_ig"}, o->method);
  o->ig_steps = 1;
  if (r.only_if(o->method == "eap_ig", "ig_steps", "only method eap_ig integrates"))
    o->ig_steps = r.integer("ig_steps", 5, 1);
  if (const model::ModelConfig* c = r.config()) set_graph(*o, *c);  // else the model was reported
  a.options = o;
}

// A sender's or receiver's label and its place in its block (-1: before the blocks; layers:
// after them).
struct GraphNode {
  std::string label;
  int64_t layer;
  bool mlp;
};

// In the analyses' numbering (edge_attribution_cells.cpp's EdgeGraph).
std::vector<GraphNode> senders(const EdgeAttributionOptions& o) {
  std::vector<GraphNode> out{{"embed", -1, false}};
  for (int64_t l = 0; l < o.layers; ++l) {
    const std::string block = std::to_string(l);
    for (int64_t h = 0; h < o.heads; ++h)
      out.push_back({"a" + block + ".h" + std::to_string(h), l, false});
    out.push_back({"m" + block, l, true});
  }
  return out;
}

std::vector<GraphNode> receivers(const EdgeAttributionOptions& o) {
  std::vector<GraphNode> out;
  for (int64_t l = 0; l < o.layers; ++l) {
    const std::string block = "a" + std::to_string(l) + ".h";
    for (int64_t h = 0; h < o.heads; ++h)
      out.push_back({block + std::to_string(h) + ".q", l, false});
    for (const char* input : {".k", ".v"})
      for (int64_t h = 0; h < o.kv_heads; ++h)
        out.push_back({block + std::to_string(h) + input, l, false});
    out.push_back({"m" + std::to_string(l), l, true});
  }
  out.push_back({"logits", o.layers, false});
  return out;
}

// Every edge, sender by sender: a receiver reads every sender of an earlier block, and an MLP
// also reads its own block's heads (unless the block is parallel: x + attn(x) + mlp(x)).
Axis edge_axis(const EdgeAttributionOptions& o) {
  const std::vector<GraphNode> from = senders(o), to = receivers(o);
  Axis edge{"edge", 0, {}, {}};
  for (size_t s = 0; s < from.size(); ++s)
    for (size_t v = 0; v < to.size(); ++v) {
      const GraphNode &u = from[s], &w = to[v];
      const bool reads =
          u.layer < w.layer || (u.layer == w.layer && !u.mlp && w.mlp && !o.parallel_residual);
      if (!reads) continue;
      edge.labels.push_back(u.label + "->" + w.label);
      edge.values.push_back(static_cast<int64_t>(s * to.size() + v));
    }
  edge.size = static_cast<int64_t>(edge.values.size());
  return edge;
}

std::vector<Axis> edge_attribution_grid(const AnalysisSpec& a) {
  return {edge_axis(a.options_as<EdgeAttributionOptions>())};
}

// Per prompt: the clean and corrupted caches, then per integration step one forward and
// backward (≈ 3 forwards) and, per block, that block over H + 2 Hkv + 1 rows (≈ that many
// forwards over all blocks together).
KindCost edge_attribution_cost(const AnalysisSpec& a, const model::ModelConfig& c) {
  KindCost cost;
  const double rows = static_cast<double>(c.n_heads + 2 * c.n_kv_heads + 1);
  cost.prompt_forwards =
      2.0 + static_cast<double>(a.options_as<EdgeAttributionOptions>().ig_steps) * (3.0 + rows);
  cost.pass_memory = PassMemory::Backward;
  return cost;
}

}  // namespace

Axis model_edges(const model::ModelConfig& c) {
  EdgeAttributionOptions o;
  set_graph(o, c);
  return edge_axis(o);
}

nlohmann::json EdgeAttributionOptions::to_json() const {
  return {{"method", method}, {"ig_steps", ig_steps}};
}

const Kind& edge_attribution_kind() {
  static const Kind k = [] {
    Kind k;
    k.name = "edge_attribution";
    k.keys = {"method", "ig_steps"};
    k.read = read_edge_attribution;
    k.grid = edge_attribution_grid;
    k.cost = edge_attribution_cost;
    k.needs_gradients = true;
    k.reduce.value_label = "change in {metric} with the edge corrupted, estimated";
    return k;
  }();
  return k;
}

}  // namespace csweep::jobs
