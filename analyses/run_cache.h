#pragma once
// The cached activations of one unpatched run (clean, corrupted or noised) and the LRU store
// that keeps them between shards: a sweep computes each prompt's caches once and every cell
// of every shard reuses them.
#include <cstdint>
#include <functional>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include <ATen/ATen.h>

#include "analyses/intervention.h"
#include "model/model.h"

namespace csweep::analyses {

struct RunCache {
  std::vector<int64_t> token_ids;
  at::Tensor tokens;  // [1, p] int64 on the model's device
  RowEdits base;      // edits that define this run (causal tracing noise)
  std::map<model::HookSite, at::Tensor>
      acts;                // [1, ...] per cached site; always model::resume_sites()
  at::Tensor logits_last;  // [1, V] in the model's dtype

  const at::Tensor& at_site(const model::HookSite& site) const;  // throws csweep::Error if absent
  bool has(const model::HookSite& site) const { return acts.count(site) != 0; }
};

// One forward of `token_ids` with `base` edits applied, caching model::resume_sites() plus `sites`.
RunCache compute_run_cache(const model::Model& model, const std::vector<int64_t>& token_ids,
                           const std::set<model::HookSite>& sites, const RowEdits& base = {});

// Bounded LRU of RunCaches keyed by (variant, tokens). Not shared across models: the first
// model seen owns the store (a different model clears it). Thread-safe.
class CacheStore {
 public:
  explicit CacheStore(size_t max_runs = 16);

  // The cached run for `variant` ("clean", "corrupted", "noised:seed=..") of `token_ids` made
  // for exactly `sites` (plus model::resume_sites()); computed on first use. The same request
  // always gets a run computed the same way, whatever else was asked before.
  std::shared_ptr<const RunCache> get(const model::Model& model, const std::string& variant,
                                      const std::vector<int64_t>& token_ids,
                                      const std::set<model::HookSite>& sites,
                                      const RowEdits& base = {});
  // A tensor derived from several runs (the steering kind's mean-difference direction): `make`
  // runs once per key (outside the lock: it may get() runs) and the result is kept until the
  // store changes model or is cleared. Not counted in size() nor evicted with the runs.
  at::Tensor derived(const model::Model& model, const std::string& key,
                     const std::function<at::Tensor()>& make);
  size_t size() const;
  size_t max_runs() const { return max_runs_; }
  int64_t forwards() const { return forwards_; }  // how many cache forwards ran (tests: reuse)
  void clear();

 private:
  using Key = std::tuple<std::string, std::vector<int64_t>, std::set<model::HookSite>>;
  size_t max_runs_;
  mutable std::mutex mutex_;
  const model::Model* owner_ = nullptr;
  std::list<Key> lru_;  // front = most recent
  std::map<Key, std::shared_ptr<const RunCache>> runs_;
  std::map<std::string, at::Tensor> derived_;
  int64_t forwards_ = 0;
  void own(const model::Model& model);  // a different model clears everything (mutex_ held)
};

}  // namespace csweep::analyses
