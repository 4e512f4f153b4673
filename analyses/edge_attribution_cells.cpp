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
#include "common/error.h"

namespace csweep::analyses {
namespace {

using model::HookPoint;
using model::HookSite;

Error bad(const std::string& field, const std::string& reason) {
  return error_at("analysis", "edge_attribution." + field, reason);
}

// The numbering of senders and receivers the grid's values use (docs/analyses.md):
//   senders:   0 = embed; 1 + l (H + 1) + h = head h of block l; 1 + l (H + 1) + H = MLP l
//   receivers: l R + j, R = H + 2 Hkv + 1: j < H the q of head j, then the k and v of each KV
//              head, then the MLP; L R = the logits
struct EdgeGraph {
  int64_t layers, heads, kv_heads;
  explicit EdgeGraph(const model::ModelConfig& c)
      : layers(c.n_layers), heads(c.n_heads), kv_heads(c.n_kv_heads) {}
  int64_t per_layer() const { return heads + 2 * kv_heads + 1; }
  int64_t senders() const { return 1 + layers * (heads + 1); }
  int64_t receivers() const { return layers * per_layer() + 1; }
};

// The sender differences (corrupted - clean), [senders, p, d_model], in the model's dtype.
at::Tensor sender_differences(const model::Model& model, const RunCache& clean,
                              const RunCache& corrupted) {
  const auto& c = model.config();
  auto diff = [&](const HookSite& s) { return corrupted.at_site(s)[0] - clean.at_site(s)[0]; };
  std::vector<at::Tensor> out{diff({HookPoint::ResidPre, 0}).unsqueeze(0)};
  for (int64_t l = 0; l < c.n_layers; ++l) {
    const at::Tensor dz = diff({HookPoint::AttnZ, l});  // [p, h, dh]
    const at::Tensor w_o = model.weights().layers[l].W_O.view({c.d_model, c.n_heads, c.d_head});
    out.push_back(at::einsum("phe,dhe->hpd", {dz, w_o}));  // each head's output: [h, p, d]
    out.push_back(diff({HookPoint::MlpOut, l}).unsqueeze(0));
  }
  return at::cat(out, 0);
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
    if (!delta.grad().defined()) throw bad("gradient", site.name() + " got no gradient");
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
      at::Tensor mask = at::zeros({rows, n}, act.options());
      mask.narrow(0, first_row, n).copy_(at::eye(n, act.options()));
      total = total + (act * mask.view({rows, 1, n, 1}) * outer.grad.at(s).unsqueeze(0)).sum();
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

void check_request(const model::Model& model, const SweepRequest& r,
                   const std::vector<GridAxis>& axes) {
  // Job files are refused earlier (jobs/: Kind::needs_gradients); this catches other callers.
  if (!model.partition().whole())
    throw bad("model", "needs gradients, which tensor parallelism does not support");
  if (model.weights().layers.front().ln1_post_w.defined())
    throw bad("model",
              "the attention output is normalised after the heads (Gemma 3): the heads' "
              "outputs do not add into the residual stream");
  if (r.ig_steps < 1) throw bad("ig_steps", "must be at least 1");
  if (r.corrupted_tokens.size() != r.clean_tokens.size())
    throw bad("prompts", "the corrupted prompt must have the clean prompt's length");
  if (axes.size() != 1 || axes[0].name != "edge")
    throw bad("grid", "expected the one axis \"edge\"");
  const EdgeGraph graph(model.config());
  for (int64_t v : axes[0].values)
    if (v < 0 || v >= graph.senders() * graph.receivers())
      throw bad("edge", "value " + std::to_string(v) + " is not an edge of this model");
}

std::vector<float> edge_attribution_cells(const detail::CellRange& range) {
  const SweepRequest& r = range.request;
  check_request(range.model, r, range.axes);
  const at::Tensor scores = range.caches.derived(
      range.model, scores_key(r), [&] { return edge_scores(range.model, r, range.caches); });
  const float* flat = scores.data_ptr<float>();
  std::vector<float> out;
  for (int64_t i = range.begin; i < range.end; ++i) out.push_back(flat[range.axes[0].values[i]]);
  return out;
}

const KindCellsRegistration registration("edge_attribution",
                                         detail::over_range<edge_attribution_cells>);

}  // namespace
}  // namespace csweep::analyses
