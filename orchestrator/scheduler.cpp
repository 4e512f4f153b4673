#include "orchestrator/scheduler.h"

#include <algorithm>

namespace csweep::orchestrator {

Scheduler::Scheduler(std::vector<ScheduledShard> shards, const std::vector<uint8_t>& already_done,
                     int max_retries)
    : max_retries_(max_retries), total_(static_cast<int64_t>(shards.size())) {
  size_t n = 0;
  for (const auto& s : shards) n = std::max<size_t>(n, size_t(s.id) + 1);
  shards_.resize(n);
  in_scope_.assign(n, 0);
  attempts_.assign(n, 0);
  state_.assign(n, ShardState::Pending);
  owner_.assign(n, -1);
  for (const auto& s : shards) {
    shards_[s.id] = s;
    in_scope_[s.id] = 1;
  }
  for (const auto& s : shards) {
    cells_total_ += s.cells;
    if (s.id < already_done.size() && already_done[s.id]) {
      state_[s.id] = ShardState::Done;
      ++done_count_;
      cells_done_ += s.cells;
    } else {
      make_pending(s.id);
    }
  }
}

void Scheduler::make_pending(uint32_t id) {
  state_[id] = ShardState::Pending;
  owner_[id] = -1;
  pending_.insert(key(id));
  pending_by_prompt_[shards_[id].prompt].insert(key(id));
  cost_left_ += shards_[id].cost;
}

void Scheduler::unpend(uint32_t id) {
  pending_.erase(key(id));
  auto it = pending_by_prompt_.find(shards_[id].prompt);
  if (it != pending_by_prompt_.end()) {
    it->second.erase(key(id));
    if (it->second.empty()) pending_by_prompt_.erase(it);
  }
  cost_left_ -= shards_[id].cost;
}

void Scheduler::take(uint32_t id, int worker) {
  unpend(id);
  state_[id] = ShardState::Assigned;
  owner_[id] = worker;
  assigned_[worker].insert(id);
  ++assigned_count_;
  last_prompt_[worker] = shards_[id].prompt;
}

std::optional<uint32_t> Scheduler::next_for(int worker) {
  if (pending_.empty()) return std::nullopt;
  uint32_t id = pending_.begin()->second;
  auto last = last_prompt_.find(worker);
  if (last != last_prompt_.end()) {
    auto same = pending_by_prompt_.find(last->second);
    if (same != pending_by_prompt_.end() && !same->second.empty())
      id = same->second.begin()->second;
  }
  take(id, worker);
  return id;
}

bool Scheduler::done(int worker, uint32_t shard) {
  if (!in_scope(shard)) return false;
  ShardState& st = state_[shard];
  if (st == ShardState::Done) return false;
  if (st == ShardState::Assigned) {
    assigned_[owner_[shard]].erase(shard);
    --assigned_count_;
  } else if (st == ShardState::Pending) {  // re-queued after its worker was declared lost
    if (held_.count(shard)) return false;  // a stage's shard cannot be done before its release
    unpend(shard);
  } else if (st == ShardState::Failed) {
    --failed_count_;
  }
  (void)worker;
  st = ShardState::Done;
  owner_[shard] = -1;
  ++done_count_;
  cells_done_ += shards_[shard].cells;
  return true;
}

bool Scheduler::failed(int worker, uint32_t shard) {
  if (!in_scope(shard) || state_[shard] != ShardState::Assigned || owner_[shard] != worker)
    return false;
  assigned_[worker].erase(shard);
  --assigned_count_;
  if (++attempts_[shard] <= max_retries_) {
    make_pending(shard);
    return false;
  }
  state_[shard] = ShardState::Failed;
  owner_[shard] = -1;
  ++failed_count_;
  return true;
}

void Scheduler::hold(const std::vector<uint8_t>& held) {
  for (uint32_t id = 0; id < held.size() && id < state_.size(); ++id) {
    if (!held[id] || !in_scope(id) || state_[id] != ShardState::Pending || held_.count(id))
      continue;
    unpend(id);
    held_.insert(id);
  }
}

void Scheduler::release(const std::vector<uint32_t>& shards) {
  for (uint32_t id : shards)
    if (held_.erase(id)) make_pending(id);
}

int64_t Scheduler::fail_held(const std::vector<uint32_t>& shards) {
  int64_t n = 0;
  for (uint32_t id : shards) {
    if (!held_.erase(id)) continue;
    state_[id] = ShardState::Failed;
    ++failed_count_;
    ++n;
  }
  return n;
}

std::vector<uint32_t> Scheduler::lose_worker(int worker) {
  std::vector<uint32_t> out;
  auto it = assigned_.find(worker);
  if (it == assigned_.end()) return out;
  for (uint32_t id : it->second) {
    --assigned_count_;
    make_pending(id);
    ++reissued_;
    out.push_back(id);
  }
  assigned_.erase(it);
  last_prompt_.erase(worker);
  return out;
}

int64_t Scheduler::outstanding(int worker) const {
  auto it = assigned_.find(worker);
  return it == assigned_.end() ? 0 : static_cast<int64_t>(it->second.size());
}

}  // namespace csweep::orchestrator
