#pragma once
// Hooks for ONE forward call: read (cache) or rewrite the activation at any hook site.
// The forward asks active(site) once per site; an inactive site costs one array lookup and
// no copies, so a forward with no hooks is as fast as a plain one.
#include <array>
#include <functional>
#include <map>
#include <vector>

#include <ATen/ATen.h>

#include "model/hook_site.h"

namespace csweep::model {

// A hook sees the activation at a site and may modify it in place or replace it.
using HookFn = std::function<void(at::Tensor& activation, const HookSite& site)>;

class Hooks {  // a set of hooks for ONE forward call; removed when it goes out of scope
 public:
  void add(const HookSite& site, HookFn fn);  // several per site run in insertion order
  void cache(const HookSite& site);           // store a detached copy into cache()
  void cache_all(
      const std::function<bool(const HookSite&)>& filter);  // names filter keeps caching bounded
  std::map<HookSite, at::Tensor>& cache();
  const std::map<HookSite, at::Tensor>& cache() const;
  bool active(const HookSite& site) const;  // O(1): the forward skips all work for inactive sites
  void run(const HookSite& site, at::Tensor& activation);  // called by the forward
  void clear();                                            // drop every hook and the cache

 private:
  struct Entry {
    HookSite site;
    std::vector<HookFn> fns;
    bool cache = false;
  };
  // Active flags per (point, layer slot); slot 0 = the global sites (layer -1), slot l+1 = block l.
  std::vector<std::array<bool, kHookPointCount>> active_;
  std::map<HookSite, Entry> entries_;
  std::function<bool(const HookSite&)> cache_filter_;
  std::map<HookSite, at::Tensor> cache_;
  void mark(const HookSite& site);
};

// Ready-made interventions (batch rows / positions / heads select a slice; empty = all).
// Positions index the sequence axis (for pattern sites: the query axis); heads index the head
// axis of head sites and are an error elsewhere.
struct Slice {
  std::vector<int64_t> rows, positions, heads;
};
// copy source[slice] into activation[slice] (source has the activation's shape, or batch 1
// broadcast over rows)
HookFn replace_with(at::Tensor source, Slice slice);
HookFn add_to(at::Tensor delta,
              Slice slice);  // activation[slice] += delta[slice] (same shape rules)
HookFn zero(Slice slice);
HookFn scale(double factor, Slice slice);

}  // namespace csweep::model
