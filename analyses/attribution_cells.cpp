// Attribution patching (Nanda 2023): the effect of patching activation a from the source run
// into the target run is estimated to first order as (a_source - a_target) . dMetric/da at
// the target run, for every site at once, from one forward and one backward per prompt pair.
// The gradient is taken w.r.t. a zero "delta" leaf added at each site (a + delta), which is
// the total derivative through every later site and immune to in-place ops in the forward.
#include <map>

#include "analyses/cells.h"
#include "common/error.h"

namespace csweep::analyses::detail {

using model::HookPoint;
using model::HookSite;

std::vector<float> attribution_cells(const CellRange& range) {
  const SweepRequest& r = range.request;
  if (r.atp_qk_fix) throw error_at("analysis", "atp_qk_fix", "AtP*'s QK fix is not implemented yet");
  const auto cells = decode_cells(range.axes, range.begin, range.end);
  std::set<HookSite> sites;
  for (const Cell& c : cells) sites.insert({r.point, c.layer});
  auto clean = range.caches.get(range.model, "clean", r.clean_tokens, sites);
  auto corrupted = range.caches.get(range.model, "clean", r.corrupted_tokens, sites);
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
    const HookSite s{r.point, c.layer};
    const at::Tensor& grad = deltas.at(s).grad();
    if (!grad.defined()) throw error_at("analysis", s.name(), "the forward did not run this hook (no gradient)");
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

}  // namespace csweep::analyses::detail
