#include "model/hooks.h"

#include "common/error.h"

namespace csweep::model {
namespace {

size_t slot_of(const HookSite& site) { return static_cast<size_t>(site.layer + 1); }

}  // namespace

void Hooks::mark(const HookSite& site) {
  size_t slot = slot_of(site);
  if (active_.size() <= slot) active_.resize(slot + 1, std::array<bool, kHookPointCount>{});
  active_[slot][static_cast<size_t>(site.point)] = true;
}

void Hooks::add(const HookSite& site, HookFn fn) {
  Entry& e = entries_[site];
  e.site = site;
  e.fns.push_back(std::move(fn));
  mark(site);
}

void Hooks::cache(const HookSite& site) {
  Entry& e = entries_[site];
  e.site = site;
  e.cache = true;
  mark(site);
}

void Hooks::cache_all(const std::function<bool(const HookSite&)>& filter) {
  cache_filter_ = filter ? filter : [](const HookSite&) { return true; };
}

std::map<HookSite, at::Tensor>& Hooks::cache() { return cache_; }
const std::map<HookSite, at::Tensor>& Hooks::cache() const { return cache_; }

bool Hooks::active(const HookSite& site) const {
  if (cache_filter_) return true;  // the filter is evaluated in run(), once per visited site
  size_t slot = slot_of(site);
  return slot < active_.size() && active_[slot][static_cast<size_t>(site.point)];
}

void Hooks::run(const HookSite& site, at::Tensor& activation) {
  auto it = entries_.find(site);
  bool store = false;
  if (it != entries_.end()) {
    for (HookFn& fn : it->second.fns) fn(activation, site);
    store = it->second.cache;
  }
  if (!store && cache_filter_) store = cache_filter_(site);
  // Cached after the site's hooks ran: the cache holds what the rest of the forward saw.
  if (store) cache_[site] = activation.detach().clone();
}

void Hooks::clear() {
  active_.clear();
  entries_.clear();
  cache_filter_ = nullptr;
  cache_.clear();
}

// ---- ready-made interventions -------------------------------------------------------------

namespace {

// Axis positions of (batch, position, head) in the activation of a site, -1 when absent.
struct Axes {
  int64_t batch = 0, position = 1, head = -1;
};

Axes axes_of(HookPoint p) {
  if (is_pattern_point(p)) return {0, 2, 1};  // [b, h, q_pos, k_pos]: positions are queries
  if (is_head_point(p)) return {0, 1, 2};     // [b, p, h, d_head]
  return {0, 1, -1};
}

// A bool tensor broadcastable to the activation that is true exactly on the slice.
at::Tensor slice_mask(const Slice& s, const at::Tensor& act, const HookSite& site) {
  Axes ax = axes_of(site.point);
  if (!s.heads.empty() && ax.head < 0)
    throw Error("hook at " + site.name() +
                ": a head slice was given but this site has no head axis");
  std::vector<int64_t> mask_shape(static_cast<size_t>(act.dim()), 1);
  auto opts = at::TensorOptions().dtype(at::kBool).device(act.device());
  at::Tensor mask = at::ones(mask_shape, opts);
  auto restrict_axis = [&](const std::vector<int64_t>& idx, int64_t dim, const char* what) {
    if (idx.empty()) return;
    int64_t n = act.size(dim);
    std::vector<int64_t> shape(static_cast<size_t>(act.dim()), 1);
    shape[static_cast<size_t>(dim)] = n;
    std::vector<uint8_t> on(static_cast<size_t>(n), 0);
    for (int64_t i : idx) {
      int64_t j = i < 0 ? i + n : i;
      if (j < 0 || j >= n)
        throw Error("hook at " + site.name() + ": " + what + " index " + std::to_string(i) +
                    " out of range (size " + std::to_string(n) + ")");
      on[static_cast<size_t>(j)] = 1;
    }
    at::Tensor axis = at::from_blob(on.data(), {n}, at::kByte).to(at::kBool).to(act.device());
    mask = mask.logical_and(axis.view(shape));
  };
  restrict_axis(s.rows, ax.batch, "row");
  restrict_axis(s.positions, ax.position, "position");
  restrict_axis(s.heads, ax.head, "head");
  return mask;
}

at::Tensor match(const at::Tensor& source, const at::Tensor& act, const HookSite& site,
                 const char* what) {
  bool ok = source.dim() == act.dim();
  for (int64_t d = 1; ok && d < act.dim(); ++d) ok = source.size(d) == act.size(d);
  if (ok) ok = source.size(0) == act.size(0) || source.size(0) == 1;
  if (!ok)
    throw Error("hook at " + site.name() + ": " + what + " has shape " +
                std::string(c10::str(source.sizes())) + " but the activation is " +
                std::string(c10::str(act.sizes())));
  return source.to(act.device(), act.scalar_type());
}

}  // namespace

// Interventions are out of place (at::where): the activation may be a view of a weight (the
// position embedding) or saved for backward, and an in-place write would corrupt either.
HookFn replace_with(at::Tensor source, Slice slice) {
  return [source = std::move(source), slice = std::move(slice)](at::Tensor& act,
                                                                const HookSite& site) {
    at::Tensor src = match(source, act, site, "replacement");
    act = at::where(slice_mask(slice, act, site), src, act);
  };
}

HookFn add_to(at::Tensor delta, Slice slice) {
  return
      [delta = std::move(delta), slice = std::move(slice)](at::Tensor& act, const HookSite& site) {
        at::Tensor d = match(delta, act, site, "delta");
        act = at::where(slice_mask(slice, act, site), act + d, act);
      };
}

HookFn zero(Slice slice) {
  return [slice = std::move(slice)](at::Tensor& act, const HookSite& site) {
    act = act.masked_fill(slice_mask(slice, act, site), 0);
  };
}

HookFn scale(double factor, Slice slice) {
  return [factor, slice = std::move(slice)](at::Tensor& act, const HookSite& site) {
    act = at::where(slice_mask(slice, act, site), act * factor, act);
  };
}

}  // namespace csweep::model
