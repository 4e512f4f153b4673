#pragma once
// Which shard goes to which worker: pure bookkeeping, no MPI, no clock (the coordinator
// passes time in), so it is unit-tested directly.
//   - costliest first: pending shards are ordered by (flops desc, id asc);
//   - cache affinity: a worker gets the costliest pending shard of the prompt it ran last,
//     when there is one, so its per-prompt caches (clean activations) stay warm;
//   - a lost worker's outstanding shards go back to pending and are re-issued;
//   - a shard can be DONE once; a late DONE from a worker declared lost is accepted if the
//     shard is not done yet (the store keeps the first copy either way);
//   - `shards` may be any subset of a plan's shards (a --slice run): ids need not be dense,
//     and ids outside the subset are ignored by done()/failed();
//   - a failed shard is retried up to `max_retries` times (transient faults: out of memory,
//     a flaky node), then stays Failed;
//   - a held shard (a stage's, orchestrator/stages.h) is not handed out until released, and
//     fails for good when its stage can never run.
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <vector>

namespace csweep::orchestrator {

struct ScheduledShard {
  uint32_t id = 0;
  uint32_t prompt = 0;
  double cost = 0.0;
  int64_t cells = 0;
};

enum class ShardState : uint8_t { Pending, Assigned, Done, Failed };

class Scheduler {
 public:
  // `already_done[i]` != 0: shard i is complete in the store (resume).
  Scheduler(std::vector<ScheduledShard> shards, const std::vector<uint8_t>& already_done,
            int max_retries = 0);

  // Picks, marks Assigned to `worker` and returns the next shard, or nothing when none pends.
  std::optional<uint32_t> next_for(int worker);
  // Returns true when this completes the shard (false: it was already done, a duplicate).
  bool done(int worker, uint32_t shard);
  // The shard failed on `worker`. Returns true when it is now Failed for good; false when it
  // went back to pending for a retry (or the report was stale).
  bool failed(int worker, uint32_t shard);
  int attempts(uint32_t shard) const { return in_scope(shard) ? attempts_[shard] : 0; }
  // Held shards wait outside pending: hold() takes the pending ones with held[id] != 0,
  // release() makes them pending, fail_held() fails them for good (returns how many).
  void hold(const std::vector<uint8_t>& held);
  void release(const std::vector<uint32_t>& shards);
  int64_t fail_held(const std::vector<uint32_t>& shards);
  int64_t held() const { return static_cast<int64_t>(held_.size()); }
  // Puts `worker`'s outstanding shards back to pending; returns them.
  std::vector<uint32_t> lose_worker(int worker);

  bool finished() const { return pending_.empty() && assigned_count_ == 0 && held_.empty(); }
  bool in_scope(uint32_t shard) const { return shard < in_scope_.size() && in_scope_[shard]; }
  int64_t pending() const { return static_cast<int64_t>(pending_.size()); }
  int64_t outstanding(int worker) const;
  int64_t total() const { return total_; }
  int64_t done_count() const { return done_count_; }
  int64_t failed_count() const { return failed_count_; }
  int64_t cells_total() const { return cells_total_; }
  int64_t cells_done() const { return cells_done_; }
  double cost_left() const { return cost_left_; }
  ShardState state(uint32_t shard) const { return state_[shard]; }
  int64_t reissued() const { return reissued_; }

 private:
  using Key = std::pair<double, uint32_t>;  // (-cost, id): std::set order = costliest first
  Key key(uint32_t id) const { return {-shards_[id].cost, id}; }
  void make_pending(uint32_t id);
  void take(uint32_t id, int worker);
  void unpend(uint32_t id);  // out of the pending sets (it stays in state Pending)

  std::vector<ScheduledShard> shards_;  // indexed by id (holes where not in scope)
  std::vector<uint8_t> in_scope_;
  std::vector<int> attempts_;
  int max_retries_ = 0;
  int64_t total_ = 0;
  std::vector<ShardState> state_;
  std::vector<int> owner_;  // worker holding an Assigned shard
  std::set<Key> pending_;
  std::map<uint32_t, std::set<Key>> pending_by_prompt_;
  std::map<int, std::set<uint32_t>> assigned_;  // worker -> its outstanding shards
  std::map<int, uint32_t> last_prompt_;
  std::set<uint32_t> held_;
  int64_t assigned_count_ = 0, done_count_ = 0, failed_count_ = 0, reissued_ = 0;
  int64_t cells_total_ = 0, cells_done_ = 0;
  double cost_left_ = 0.0;
};

}  // namespace csweep::orchestrator
