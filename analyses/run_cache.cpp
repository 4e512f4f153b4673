#include "analyses/run_cache.h"
#include <ATen/core/grad_mode.h>

#include "common/error.h"
#include "common/log.h"

namespace csweep::analyses {

const at::Tensor& RunCache::at_site(const model::HookSite& site) const {
  auto it = acts.find(site);
  if (it == acts.end()) throw Error("run cache: " + site.name() + ": not cached");
  return it->second;
}

RunCache compute_run_cache(const model::Model& model, const std::vector<int64_t>& token_ids,
                           const std::set<model::HookSite>& sites, const RowEdits& base) {
  if (token_ids.empty()) throw Error("run cache: tokens: empty prompt");
  at::NoGradGuard no_grad;
  RunCache run;
  run.token_ids = token_ids;
  run.tokens =
      at::tensor(token_ids, at::TensorOptions().dtype(at::kLong)).view({1, -1}).to(model.device());
  run.base = base;
  model::Hooks hooks;
  install_row_edits(hooks, {run.base});
  std::set<model::HookSite> wanted = sites;
  for (int64_t l = 0; l < model.config().n_layers; ++l)
    wanted.insert({model::HookPoint::ResidPre, l});
  for (const auto& s : model::resume_sites(model.config()))
    wanted.insert(s);  // the fast path resumes from these
  for (const auto& s : wanted) hooks.cache(s);
  model::ForwardOptions fo;
  fo.logits = model::ForwardOptions::Logits::Last;
  at::Tensor logits = model.forward(run.tokens, &hooks, fo);
  run.logits_last = logits.select(1, logits.size(1) - 1);
  run.acts = std::move(hooks.cache());
  for (const auto& s : wanted) {
    if (!run.acts.count(s))
      throw Error("run cache: " + s.name() + ": the forward did not produce this site");
  }
  return run;
}

CacheStore::CacheStore(size_t max_runs) : max_runs_(max_runs == 0 ? 1 : max_runs) {}

std::shared_ptr<const RunCache> CacheStore::get(const model::Model& model,
                                                const std::string& variant,
                                                const std::vector<int64_t>& token_ids,
                                                const std::set<model::HookSite>& sites,
                                                const RowEdits& base) {
  std::lock_guard<std::mutex> lock(mutex_);
  own(model);
  // Keyed by the exact sites asked for, never widened to a union: the sites a forward hooks
  // decide how it computes (a hooked pattern or norm takes the explicit path instead of the
  // fused kernel, a few ulps apart), so a run shared across site sets would make a shard's
  // values depend on what ran before it in this process, and a resumed sweep would differ.
  Key key{variant, token_ids, sites};
  if (auto it = runs_.find(key); it != runs_.end()) {
    lru_.remove(key);
    lru_.push_front(key);
    return it->second;
  }
  auto run = std::make_shared<const RunCache>(compute_run_cache(model, token_ids, sites, base));
  ++forwards_;
  log::get("analyses")
      ->debug("cache forward {} ({} tokens, {} sites)", variant, token_ids.size(), sites.size());
  lru_.push_front(key);
  runs_[key] = run;
  while (runs_.size() > max_runs_) {
    runs_.erase(lru_.back());
    lru_.pop_back();
  }
  return run;
}

void CacheStore::own(const model::Model& model) {
  if (owner_ == &model) return;
  lru_.clear();
  runs_.clear();
  derived_.clear();
  owner_ = &model;
}

at::Tensor CacheStore::derived(const model::Model& model, const std::string& key,
                               const std::function<at::Tensor()>& make) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    own(model);
    if (auto it = derived_.find(key); it != derived_.end()) return it->second;
  }
  at::Tensor value = make();
  std::lock_guard<std::mutex> lock(mutex_);
  own(model);
  derived_[key] = value;
  return value;
}

size_t CacheStore::size() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return runs_.size();
}

void CacheStore::clear() {
  std::lock_guard<std::mutex> lock(mutex_);
  lru_.clear();
  runs_.clear();
  derived_.clear();
}

}  // namespace csweep::analyses
