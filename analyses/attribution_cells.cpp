// Attribution patching (Nanda 2023): the effect of patching activation a from the source run
// into the target run is estimated to first order as (a_source - a_target) . dMetric/da at
// the target run, for every site at once, from one forward and one backward per prompt pair.
// The gradient is taken w.r.t. a zero "delta" leaf added at each site (a + delta), which is
// the total derivative through every later site and immune to in-place ops in the forward.
//
// AtP*'s QK fix (Kramar et al. 2024): q and k act only through the softmax, where the linear
// estimate fails when attention saturates. With the fix, a q/k patch recomputes the affected
// attention scores exactly (source q or k against the target's k or q, rotary applied as
// cached), softmaxes them, and the estimate is (pattern_new - pattern_target) . dMetric/dpattern.
#include <ATen/core/grad_mode.h>
#include <cmath>
#include <limits>
#include <map>

#include "analyses/cells.h"
#include "common/error.h"

namespace csweep::analyses::detail {

using model::HookPoint;
using model::HookSite;

namespace {

bool qk_fixed(const SweepRequest& r) {
  return r.atp_qk_fix && (r.point == HookPoint::AttnQ || r.point == HookPoint::AttnK);
}

// The q or k as used by the scores: after rotary when the model has it (patching hook_q/k
// of the source at the same position gives exactly the source's rotated q/k).
HookPoint scored(HookPoint point, const model::ModelConfig& c) {
  if (c.rotary_dim <= 0) return point;
  return point == HookPoint::AttnQ ? HookPoint::AttnRotQ : HookPoint::AttnRotK;
}

// Exact first-order-through-the-pattern effect of one q/k patch.
double qk_fix_effect(const model::ModelConfig& c, const Cell& cell, HookPoint point,
                     const RunCache& source, const RunCache& target,
                     const at::Tensor& grad_pattern) {
  const int64_t l = cell.layer;
  at::Tensor q = target.at_site({scored(HookPoint::AttnQ, c), l}).to(at::kFloat)[0];  // [p, h, dh]
  at::Tensor k =
      target.at_site({scored(HookPoint::AttnK, c), l}).to(at::kFloat)[0];  // [p, hkv, dh]
  at::Tensor src = source.at_site({scored(point, c), l}).to(at::kFloat)[0];
  const int64_t p = q.size(0);
  at::Tensor pos_mask = at::zeros({p, 1, 1}, q.options());
  if (cell.pos >= 0)
    pos_mask[cell.pos] = 1.0;
  else
    pos_mask.fill_(1.0);
  at::Tensor head_mask;
  if (point == HookPoint::AttnQ) {
    head_mask = at::zeros({1, c.n_heads, 1}, q.options());
    head_mask[0][cell.head] = 1.0;
    q = q + (src - q) * pos_mask * head_mask;
  } else {
    head_mask = at::zeros({1, c.n_kv_heads, 1}, q.options());
    head_mask[0][cell.head] = 1.0;
    k = k + (src - k) * pos_mask * head_mask;
  }
  at::Tensor qt = q.transpose(0, 1);                                     // [h, p, dh]
  at::Tensor kt = k.transpose(0, 1).repeat_interleave(c.kv_group(), 0);  // [h, p, dh]
  double scale = c.attn_scale;
  if (c.scale_attn_by_inverse_layer_idx) scale /= double(l + 1);
  at::Tensor old_scores =
      target.at_site({HookPoint::AttnScores, l}).to(at::kFloat)[0];  // masked with -inf
  at::Tensor scores = at::matmul(qt, kt.transpose(1, 2)) * scale;
  scores = at::where(at::isinf(old_scores), old_scores, scores);
  at::Tensor pattern = at::softmax(scores, -1);
  at::Tensor old_pattern = target.at_site({HookPoint::AttnPattern, l}).to(at::kFloat)[0];
  return ((pattern - old_pattern) * grad_pattern.to(at::kFloat)[0]).sum().item<double>();
}

std::vector<float> attribution_cells(const CellRange& range) {
  // Job files are refused earlier (jobs/: Kind::needs_gradients); this catches any other caller,
  // on every rank alike, before the first collective.
  if (!range.model.partition().whole())
    throw error_at("analysis", "attribution_patching",
                   "needs gradients through the collectives, which tensor parallelism does not "
                   "support; use model.tensor_parallel: 1");
  const SweepRequest& r = range.request;
  const auto& config = range.model.config();
  const bool fix = qk_fixed(r);
  const auto cells = decode_cells(range.axes, range.begin, range.end);
  std::set<HookSite> sites;
  std::set<HookSite> cached;
  for (const Cell& c : cells) {
    sites.insert({fix ? HookPoint::AttnPattern : r.point, c.layer});
    cached.insert({r.point, c.layer});
    if (fix) {
      for (HookPoint p : {HookPoint::AttnScores, HookPoint::AttnPattern,
                          scored(HookPoint::AttnQ, config), scored(HookPoint::AttnK, config)}) {
        cached.insert({p, c.layer});
      }
    }
  }
  auto clean = range.caches.get(range.model, "clean", r.clean_tokens, cached);
  auto corrupted = range.caches.get(range.model, "clean", r.corrupted_tokens, cached);
  const bool denoise = r.direction == Direction::Denoising;
  const RunCache& source = denoise ? *clean : *corrupted;
  const RunCache& target = denoise ? *corrupted : *clean;
  const Metric metric = request_metric(r, *clean);

  c10::AutoGradMode grad_on(true);
  std::map<HookSite, at::Tensor> deltas;
  model::Hooks hooks;
  for (const HookSite& s : sites) {
    at::Tensor delta = at::zeros_like(target.at_site(s)).requires_grad_(true);
    deltas[s] = delta;
    hooks.add(s, [delta](at::Tensor& act, const HookSite&) { act = act + delta; });
  }
  model::ForwardOptions fo;
  fo.logits = model::ForwardOptions::Logits::Last;
  at::Tensor logits = range.model.forward(target.tokens, &hooks, fo);
  at::Tensor value = metric.differentiable(logits).sum();
  value.backward();
  const float base = value.item<float>();

  std::vector<float> out;
  for (const Cell& c : cells) {
    if (fix) {
      const at::Tensor& grad = deltas.at({HookPoint::AttnPattern, c.layer}).grad();
      if (!grad.defined())
        throw error_at("analysis", "atp_qk_fix", "the forward did not run hook_pattern");
      out.push_back(base +
                    static_cast<float>(qk_fix_effect(config, c, r.point, source, target, grad)));
      continue;
    }
    const HookSite s{r.point, c.layer};
    const at::Tensor& grad = deltas.at(s).grad();
    if (!grad.defined())
      throw error_at("analysis", s.name(), "the forward did not run this hook (no gradient)");
    at::Tensor diff = (source.at_site(s) - target.at_site(s)).to(at::kFloat) * grad.to(at::kFloat);
    EditSlice slice;
    if (c.pos >= 0) slice.positions = {c.pos};
    if (c.head >= 0) slice.heads = {c.head};
    if (c.neuron >= 0) slice.dims = {c.neuron};
    at::Tensor mask = slice_mask(r.point, diff.sizes(), slice, diff.options());
    out.push_back(base + diff.masked_select(mask).sum().item<float>());
  }
  return out;
}

// The kind's computation, found by the registry's name of the kind (jobs/kinds/).
const KindCellsRegistration attribution_patching_registration(kAttributionPatching,
                                                              over_range<attribution_cells>);

}  // namespace

}  // namespace csweep::analyses::detail
