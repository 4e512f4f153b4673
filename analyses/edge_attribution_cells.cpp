// Edge attribution patching: EAP (Syed et al. 2023) and EAP-IG (Hanna et al. 2024) score every
// edge u -> v of the computational graph at once:
//   score(u -> v) = (u_corrupted - u_clean) . dMetric/d(input of v)
// where the senders u are the embedding (hook_resid_pre of block 0), each head's output (its
// z through its slice of W_O, as it enters the residual stream) and each MLP's output; the
// receivers v are each head's q, k and v inputs, each MLP's input and the logits (the final
// residual stream). The score estimates, to first order, the metric's change when only that
// edge carries the corrupted sender (every other edge clean).
//
// "input of v" is v's own copy of the residual stream (TransformerLens's use_split_qkv_input):
// head h's q reads ln1(resid_pre) through W_Q's slice of h, so its gradient differs from head
// h's k, from head h+1's q, and from what the MLP reads. The model computes ln1 once for all
// heads, so the gradients are taken in two steps:
//   1. one forward + backward of the whole model with a zero leaf added at every hook_q, hook_k,
//      hook_v, ln2.hook_normalized and the last hook_resid_post: dMetric/d(each head's q/k/v),
//      dMetric/d(the MLP's normalised input), dMetric/d(final residual);
//   2. per block, one forward of that block alone over H + 2 Hkv + 1 rows, each row its own leaf
//      copy of the residual stream the block read in step 1; row r's hook_q/k/v slice of its own
//      receiver (and, in the last row, ln2's output; its resid_mid is a leaf of its own where the
//      block has one) is dotted with step 1's gradient, so one backward gives each row's leaf
//      exactly the vector-Jacobian product of its receiver's input: ln1 (and Qwen3's q/k norm)
//      for q/k/v, ln2 for the MLP — the architecture's own code, no second copy of it here.
// EAP-IG averages the gradients over ig_steps runs whose input (hook_resid_pre of block 0) is
// corrupted + (k / ig_steps)(clean - corrupted), k = 1..ig_steps (Hanna et al.'s "inputs"
// variant); ig_steps = 1 is EAP (the clean run). The sender differences are always those of the
// real corrupted and clean runs.
//
// The edge axis's values (jobs/kinds/edge_attribution.cpp writes them with the labels) are
// sender * receivers + receiver, numbered as EdgeGraph below. A prompt's whole score matrix is
// computed once and kept in the CacheStore for its other shards.
#include <ATen/core/grad_mode.h>

#include <map>
#include <set>
#include <string>

#include "analyses/cells.h"
#include "analyses/edge_circuit.h"
#include "common/error.h"

namespace csweep::analyses {
namespace {

using model::HookPoint;
using model::HookSite;

Error edge_error(const std::string& field, const std::string& reason) {
  return error_at("analysis", "edge_attribution." + field, reason);
}

// The numbering of senders and receivers the grid's values use (docs/analyses.md):
//   senders:   0 = embed; 1 + l (H + 1) + h = head h of block l; 1 + l (H + 1) + H = MLP l
//   receivers: l R + j, R = H + 2 Hkv + 1: j < H the q of head j, then the k and v of each KV
//              head, then the MLP; L R = the logits
struct EdgeGraph {
  int64_t layers, heads, kv_heads;
  bool parallel;
  explicit EdgeGraph(const model::ModelConfig& c)
      : layers(c.n_layers),
        heads(c.n_heads),
        kv_heads(c.n_kv_heads),
        parallel(c.parallel_residual) {}
  int64_t per_layer() const { return heads + 2 * kv_heads + 1; }
  int64_t senders() const { return 1 + layers * (heads + 1); }
  int64_t receivers() const { return layers * per_layer() + 1; }
  int64_t senders_before(int64_t l) const { return 1 + l * (heads + 1); }  // blocks < l
  // Whether receiver v reads sender s (jobs/kinds/edge_attribution.cpp's grid lists these): a
  // sender of an earlier block, or, for an MLP unless the block is parallel, its block's heads.
  bool reads(int64_t s, int64_t v) const {
    const int64_t layer = v / per_layer();
    const bool mlp = layer < layers && v % per_layer() == per_layer() - 1;
    return s < senders_before(layer) || (mlp && !parallel && s < senders_before(layer) + heads);
  }
};

// Each head's output of block l as it enters the residual stream (z through its slice of W_O,
// no bias): [h, p, d] from z [p, h, dh].
at::Tensor head_outputs(const model::Model& model, int64_t l, const at::Tensor& z) {
  const auto& c = model.config();
  const at::Tensor w_o = model.weights().layers[l].W_O.view({c.d_model, c.n_heads, c.d_head});
  return at::einsum("phe,dhe->hpd", {z, w_o});
}

// Every sender's output in `run`, [senders, p, d_model], in the model's dtype.
at::Tensor sender_outputs(const model::Model& model, const RunCache& run) {
  std::vector<at::Tensor> out{run.at_site({HookPoint::ResidPre, 0})[0].unsqueeze(0)};
  for (int64_t l = 0; l < model.config().n_layers; ++l) {
    out.push_back(head_outputs(model, l, run.at_site({HookPoint::AttnZ, l})[0]));
    out.push_back(run.at_site({HookPoint::MlpOut, l})[0].unsqueeze(0));
  }
  return at::cat(out, 0);
}

// The sender differences (corrupted - clean), [senders, p, d_model], in the model's dtype.
at::Tensor sender_differences(const model::Model& model, const RunCache& clean,
                              const RunCache& corrupted) {
  return sender_outputs(model, corrupted) - sender_outputs(model, clean);
}

// [rows, 1, n, 1]: row first_row + i selects head slice i (an activation [rows, p, n, dh] times
// this keeps each row's own head).
at::Tensor own_head_rows(int64_t rows, int64_t first_row, int64_t n, const at::TensorOptions& o) {
  at::Tensor mask = at::zeros({rows, n}, o);
  mask.narrow(0, first_row, n).copy_(at::eye(n, o));
  return mask.view({rows, 1, n, 1});
}

// Step 1's gradients and the residual streams the receivers read in that run.
struct OuterGrads {
  std::map<HookSite, at::Tensor> grad;   // hook_q/k/v, ln2.hook_normalized, last resid_post
  std::map<HookSite, at::Tensor> input;  // hook_resid_pre (and hook_resid_mid) per block
};

OuterGrads outer_pass(const model::Model& model, const RunCache& clean, const RunCache& corrupted,
                      const Metric& metric, double alpha) {
  const auto& c = model.config();
  model::Hooks hooks;
  std::map<HookSite, at::Tensor> deltas;
  OuterGrads g;
  // The interpolated input; alpha = 1 is the clean run itself.
  const at::Tensor& x0 = clean.at_site({HookPoint::ResidPre, 0});
  const at::Tensor& x1 = corrupted.at_site({HookPoint::ResidPre, 0});
  if (alpha < 1.0)
    hooks.add({HookPoint::ResidPre, 0},
              [&](at::Tensor& act, const HookSite&) { act = x1 + alpha * (x0 - x1); });
  for (int64_t l = 0; l < c.n_layers; ++l) {
    for (HookPoint p : {HookPoint::ResidPre, HookPoint::ResidMid})
      hooks.add({p, l}, [&](at::Tensor& act, const HookSite& s) { g.input[s] = act.detach(); });
    for (HookPoint p :
         {HookPoint::AttnQ, HookPoint::AttnK, HookPoint::AttnV, HookPoint::Ln2Normalized}) {
      hooks.add({p, l}, [&](at::Tensor& act, const HookSite& s) {
        deltas[s] = at::zeros_like(act).requires_grad_(true);
        act = act + deltas[s];
      });
    }
  }
  const HookSite final_resid{HookPoint::ResidPost, c.n_layers - 1};
  hooks.add(final_resid, [&](at::Tensor& act, const HookSite& s) {
    deltas[s] = at::zeros_like(act).requires_grad_(true);
    act = act + deltas[s];
  });
  model::ForwardOptions fo;
  fo.logits = model::ForwardOptions::Logits::Last;
  metric.differentiable(model.forward(clean.tokens, &hooks, fo)).sum().backward();
  for (auto& [site, delta] : deltas) {
    if (!delta.grad().defined()) throw edge_error("gradient", site.name() + " got no gradient");
    g.grad[site] = delta.grad()[0];
  }
  return g;
}

// Step 2 for block l: the gradient w.r.t. each receiver's own input, [per_layer, p, d_model].
at::Tensor receiver_grads(const model::Model& model, const OuterGrads& outer, int64_t l) {
  const auto& c = model.config();
  const EdgeGraph graph(c);
  const int64_t rows = graph.per_layer(), mlp_row = rows - 1;
  const at::Tensor x = outer.input.at({HookPoint::ResidPre, l});  // [1, p, d]
  const at::Tensor leaves = x.repeat({rows, 1, 1}).requires_grad_(true);
  at::Tensor mid_leaf;  // the MLP row's resid_mid, where the block has one
  at::Tensor total = at::zeros({}, x.options());
  model::Hooks hooks;
  // Row r's own receiver: one head slice of q (rows 0..H-1), k, v (the next Hkv rows each).
  auto head_rows = [&](HookPoint p, int64_t first_row, int64_t n) {
    hooks.add({p, l}, [&, first_row, n](at::Tensor& act, const HookSite& s) {
      const at::Tensor mask = own_head_rows(rows, first_row, n, act.options());
      total = total + (act * mask * outer.grad.at(s).unsqueeze(0)).sum();
    });
  };
  head_rows(HookPoint::AttnQ, 0, c.n_heads);
  head_rows(HookPoint::AttnK, c.n_heads, c.n_kv_heads);
  head_rows(HookPoint::AttnV, c.n_heads + c.n_kv_heads, c.n_kv_heads);
  if (!c.parallel_residual) {
    hooks.add({HookPoint::ResidMid, l}, [&](at::Tensor& act, const HookSite& s) {
      mid_leaf = outer.input.at(s).clone().requires_grad_(true);
      act = at::cat({act.narrow(0, 0, mlp_row), mid_leaf}, 0);
    });
  }
  hooks.add({HookPoint::Ln2Normalized, l}, [&](at::Tensor& act, const HookSite& s) {
    total = total + (act[mlp_row] * outer.grad.at(s)).sum();
  });
  model::ForwardOptions fo;
  fo.start_layer = l;
  fo.start_resid = leaves;
  fo.stop_layer = l + 1;
  model.forward(at::Tensor(), &hooks, fo);
  total.backward();
  at::Tensor grads = leaves.grad().clone();
  if (mid_leaf.defined()) grads[mlp_row] = mid_leaf.grad()[0];
  return grads;
}

// Every edge's score for one prompt: [senders, receivers] (invalid pairs hold garbage the grid
// never asks for), float32 on the CPU.
at::Tensor edge_scores(const model::Model& model, const SweepRequest& r, CacheStore& caches) {
  const auto& c = model.config();
  std::set<HookSite> sites;
  for (int64_t l = 0; l < c.n_layers; ++l) sites.insert({HookPoint::MlpOut, l});
  const auto clean = caches.get(model, "clean", r.clean_tokens, sites);
  const auto corrupted = caches.get(model, "clean", r.corrupted_tokens, sites);
  const Metric metric = detail::request_metric(r, *clean);
  const EdgeGraph graph(c);
  const int64_t p = clean->tokens.size(1);
  c10::AutoGradMode grad_on(true);
  at::Tensor grads = at::zeros({graph.receivers(), p, c.d_model}, clean->logits_last.options());
  for (int64_t k = 1; k <= r.ig_steps; ++k) {
    const OuterGrads outer = outer_pass(model, *clean, *corrupted, metric,
                                        static_cast<double>(k) / static_cast<double>(r.ig_steps));
    for (int64_t l = 0; l < c.n_layers; ++l)
      grads.narrow(0, l * graph.per_layer(), graph.per_layer()) += receiver_grads(model, outer, l);
    grads[graph.receivers() - 1] += outer.grad.at({HookPoint::ResidPost, c.n_layers - 1});
  }
  grads /= static_cast<double>(r.ig_steps);
  const at::Tensor diffs = sender_differences(model, *clean, *corrupted).detach();
  return at::matmul(diffs.reshape({graph.senders(), -1}),
                    grads.reshape({graph.receivers(), -1}).t())
      .to(at::kFloat)
      .cpu();
}

// The key of a prompt's scores in the CacheStore: everything edge_scores reads.
std::string scores_key(const SweepRequest& r) {
  std::string key = "edge_attribution ig_steps=" + std::to_string(r.ig_steps);
  key += " metric=" + std::to_string(static_cast<int>(r.metric)) + " answers=";
  for (const auto& a : r.answers)
    key.append(std::to_string(a.answer)).append(",").append(std::to_string(a.wrong)).append(" ");
  for (const auto* toks : {&r.clean_tokens, &r.corrupted_tokens}) {
    key += "|";
    for (int64_t t : *toks) key.append(std::to_string(t)).append(" ");
  }
  return key;
}

// Why the edge graph does not describe `model` (empty when it does).
std::string unsupported_graph(const model::Model& model) {
  if (!model.partition().whole())
    return "tensor parallelism splits the heads' outputs across ranks (and autograd does not "
           "run through the collectives)";
  if (model.weights().layers.front().ln1_post_w.defined())
    return "the attention output is normalised after the heads (Gemma 3): the heads' outputs do "
           "not add into the residual stream";
  return "";
}

void check_edge_request(const model::Model& model, const SweepRequest& r,
                        const std::vector<GridAxis>& axes) {
  // Job files are refused earlier (jobs/: Kind::needs_gradients); this catches other callers.
  if (const std::string why = unsupported_graph(model); !why.empty())
    throw edge_error("model", why);
  if (r.ig_steps < 1) throw edge_error("ig_steps", "must be at least 1");
  if (r.corrupted_tokens.size() != r.clean_tokens.size())
    throw edge_error("prompts", "the corrupted prompt must have the clean prompt's length");
  if (axes.size() != 1 || axes[0].name != "edge")
    throw edge_error("grid", "expected the one axis \"edge\"");
  const EdgeGraph graph(model.config());
  for (int64_t v : axes[0].values)
    if (v < 0 || v >= graph.senders() * graph.receivers())
      throw edge_error("edge", "value " + std::to_string(v) + " is not an edge of this model");
}

std::vector<float> edge_attribution_cells(const detail::CellRange& range) {
  const SweepRequest& r = range.request;
  check_edge_request(range.model, r, range.axes);
  const at::Tensor scores = range.caches.derived(
      range.model, scores_key(r), [&] { return edge_scores(range.model, r, range.caches); });
  const float* flat = scores.data_ptr<float>();
  std::vector<float> out;
  for (int64_t i = range.begin; i < range.end; ++i) out.push_back(flat[range.axes[0].values[i]]);
  return out;
}

const KindCellsRegistration edge_attribution_registration(
    "edge_attribution", detail::over_range<edge_attribution_cells>);

// ---- Edge circuits (circuit_faithfulness with universe edges) ----

using Ablation = SweepRequest::CircuitAblation;

Error bad_circuit(const std::string& field, const std::string& reason) {
  return error_at("analysis", "circuit_faithfulness." + field, reason);
}

// What one prompt's circuits share: the clean run, every sender's clean and ablated outputs.
struct EdgeCircuitRun {
  const model::Model& model;
  EdgeGraph graph;
  std::shared_ptr<const RunCache> clean;
  at::Tensor clean_out;  // [senders, p, d]
  at::Tensor ablated;    // [senders, p or 1, d]: corrupted run's, mean, or zero
};

EdgeCircuitRun edge_circuit_run(const model::Model& model, const SweepRequest& r,
                                CacheStore& caches) {
  const auto& c = model.config();
  std::set<HookSite> sites;
  for (int64_t l = 0; l < c.n_layers; ++l) sites.insert({HookPoint::MlpOut, l});
  EdgeCircuitRun run{
      model, EdgeGraph(c), caches.get(model, "clean", r.clean_tokens, sites), {}, {}};
  run.clean_out = sender_outputs(model, *run.clean);
  if (r.circuit.ablation == Ablation::Patch) {
    run.ablated = sender_outputs(model, *caches.get(model, "clean", r.corrupted_tokens, sites));
  } else if (r.circuit.ablation == Ablation::Zero) {
    run.ablated = at::zeros_like(run.clean_out.narrow(1, 0, 1));
  } else {  // mean over the reference prompts and their positions
    std::vector<std::vector<int64_t>> refs = r.reference_prompts;
    if (refs.empty()) refs.push_back(r.clean_tokens);
    at::Tensor sum = at::zeros_like(run.clean_out.narrow(1, 0, 1), at::kFloat);
    for (const auto& tokens : refs)
      sum += sender_outputs(model, *caches.get(model, "clean", tokens, sites))
                 .to(at::kFloat)
                 .mean(1, true);
    run.ablated = (sum / static_cast<double>(refs.size())).to(run.clean_out.scalar_type());
  }
  return run;
}

// The attention output's bias of block l ([d]; zeros where the model has none): the residual
// stream's part that no edge carries.
at::Tensor attn_bias(const model::Model& model, int64_t l, const at::TensorOptions& o) {
  const at::Tensor& b = model.weights().layers[l].b_O;
  return b.defined() ? b : at::zeros({model.config().d_model}, o);
}

// The metric of the circuit `keep` ([senders, receivers], 1 for an edge of the circuit): one
// forward, block by block. Block l runs over its receivers' rows (as receiver_grads), row v its
// own residual stream
//   input(v) = the biases before v + sum over v's senders u of (kept ? live(u) : ablated(u))
// (live: u's output in this run; summed as ablated + kept (live - ablated), so an input with
// every sender zeroed is exactly the biases), and q, k, v take each head's slice from its own
// row, so every row computes the same heads' outputs; the MLP reads its row (its resid_mid where
// the block has one, set once the block's heads are known). The logits read the last such sum.
float edge_circuit_metric(const EdgeCircuitRun& run, const at::Tensor& keep, const Metric& metric) {
  const auto& c = run.model.config();
  const EdgeGraph& g = run.graph;
  const int64_t rows = g.per_layer(), mlp_row = rows - 1;
  at::Tensor live = run.clean_out.clone();  // the embedding is this run's; the rest set below
  at::Tensor bias = at::zeros({c.d_model}, live.options());
  auto inputs = [&](const at::Tensor& biases, int64_t n_senders, int64_t first_receiver,
                    int64_t n_receivers) {
    const at::Tensor k = keep.narrow(0, 0, n_senders).narrow(1, first_receiver, n_receivers);
    const at::Tensor ablated = run.ablated.narrow(0, 0, n_senders);
    return biases + ablated.sum(0, true) +
           at::einsum("sr,spd->rpd", {k, live.narrow(0, 0, n_senders) - ablated});
  };
  for (int64_t l = 0; l < c.n_layers; ++l) {
    const int64_t first = l * rows, heads_sender = g.senders_before(l);
    const at::Tensor bias_mid = bias + attn_bias(run.model, l, live.options());
    model::Hooks hooks;
    auto own_slices = [&](HookPoint p, int64_t first_row, int64_t n) {
      hooks.add({p, l}, [&, first_row, n](at::Tensor& act, const HookSite&) {
        act = (act * own_head_rows(rows, first_row, n, act.options()))
                  .sum(0, true)
                  .expand_as(act)
                  .contiguous();
      });
    };
    own_slices(HookPoint::AttnQ, 0, c.n_heads);
    own_slices(HookPoint::AttnK, c.n_heads, c.n_kv_heads);
    own_slices(HookPoint::AttnV, c.n_heads + c.n_kv_heads, c.n_kv_heads);
    hooks.add({HookPoint::AttnZ, l}, [&](at::Tensor& act, const HookSite&) {
      live.narrow(0, heads_sender, c.n_heads).copy_(head_outputs(run.model, l, act[0]));
    });
    if (!c.parallel_residual) {
      hooks.add({HookPoint::ResidMid, l}, [&](at::Tensor& act, const HookSite&) {
        act = at::cat({act.narrow(0, 0, mlp_row),
                       inputs(bias_mid, heads_sender + c.n_heads, first + mlp_row, 1)},
                      0);
      });
    }
    hooks.add({HookPoint::MlpOut, l}, [&](at::Tensor& act, const HookSite&) {
      live[heads_sender + c.n_heads].copy_(act[mlp_row]);
    });
    model::ForwardOptions fo;
    fo.start_layer = l;
    fo.start_resid = inputs(bias, heads_sender, first, rows);
    fo.stop_layer = l + 1;
    run.model.forward(at::Tensor(), &hooks, fo);
    bias = bias_mid;
  }
  model::ForwardOptions fo;
  fo.start_layer = c.n_layers;
  fo.start_resid = inputs(bias, g.senders(), g.receivers() - 1, 1);
  fo.logits = model::ForwardOptions::Logits::Last;
  return metric(run.model.forward(at::Tensor(), nullptr, fo))[0].item<float>();
}

void check_edge_circuit(const model::Model& model, const SweepRequest& r,
                        const std::vector<GridAxis>& axes) {
  if (const std::string why = unsupported_graph(model); !why.empty())
    throw bad_circuit("model", why);
  if (axes.size() != 1 || axes[0].name != "size")
    throw bad_circuit("grid", "the grid is one size axis (edge counts)");
  const EdgeGraph g(model.config());
  std::set<int64_t> seen;
  for (size_t i = 0; i < r.circuit.edges.size(); ++i) {
    const int64_t e = r.circuit.edges[i];
    const std::string at = "edges[" + std::to_string(i) + "]";
    if (e < 0 || e >= g.senders() * g.receivers() || !g.reads(e / g.receivers(), e % g.receivers()))
      throw bad_circuit(at, "value " + std::to_string(e) + " is not an edge of this model");
    if (!seen.insert(e).second) throw bad_circuit(at, "listed twice");
  }
  if (r.circuit.ablation == Ablation::Patch && r.corrupted_tokens.size() != r.clean_tokens.size())
    throw bad_circuit("prompts",
                      "patch ablation needs a corrupted prompt of the clean prompt's length");
}

// The number of edges of the model's graph: a circuit this large is the clean run.
int64_t edge_count(const EdgeGraph& g) {
  int64_t n = 0;
  for (int64_t s = 0; s < g.senders(); ++s)
    for (int64_t v = 0; v < g.receivers(); ++v) n += g.reads(s, v) ? 1 : 0;
  return n;
}

}  // namespace

namespace detail {

std::vector<float> edge_circuit_cells(const CellRange& range) {
  const SweepRequest& r = range.request;
  check_edge_circuit(range.model, r, range.axes);
  at::NoGradGuard no_grad;
  const EdgeCircuitRun run = edge_circuit_run(range.model, r, range.caches);
  const Metric metric = request_metric(r, *run.clean);
  const int64_t all = edge_count(run.graph);
  std::vector<float> out;
  for (int64_t cell = range.begin; cell < range.end; ++cell) {
    const int64_t n = range.axes[0].values[static_cast<size_t>(cell)];
    if (n >= all) {  // the full model
      out.push_back(metric(run.clean->logits_last)[0].item<float>());
      continue;
    }
    at::Tensor keep = at::zeros({run.graph.senders(), run.graph.receivers()}, at::kFloat);
    const auto kept = std::min<int64_t>(n, std::ssize(r.circuit.edges));
    for (int64_t i = 0; i < kept; ++i) {
      const int64_t e = r.circuit.edges[static_cast<size_t>(i)];
      keep[e / run.graph.receivers()][e % run.graph.receivers()] = 1.0;
    }
    out.push_back(edge_circuit_metric(run, keep.to(run.clean_out.options()), metric));
  }
  return out;
}

}  // namespace detail
}  // namespace csweep::analyses
