// Rank 0's side of the protocol (orchestrator/protocol.h has the whole of it).
//
// THE LOOP (a world of workers)
//   start:   START to every worker at once (HELLO's version check may come before or after).
//   groups:  with tensor_parallel T, the workers are groups of T consecutive ranks. Every rank
//            says HELLO, READY, HEARTBEAT, SIGNALED and BYE for itself; work (ASSIGN) and STOP
//            go to the group's leader only, which relays them to its members. A group gets work
//            once all its ranks are READY, and is lost as a whole when any of its ranks is.
//   stages:  a stage's shards are held until its source's last shard is DONE; the DONE's
//            values then choose the stage's cells (stages.h) and its shards become pending. A
//            source shard failed for good fails the stages that read it.
//   repeat:  1. handle everything that arrived: HELLO (version), READY (the worker gets work),
//               DONE (a duplicate is journalled, counted once), FAILED (errors.jsonl; retried
//               up to max_retries, then failed; on_error=stop drains), SIGNALED (drain), BYE;
//            2. a drain signal on this rank: STOP {75} to every live worker;
//            3. hand out work: each READY worker is topped up to `prefetch` outstanding shards;
//            4. silence: a worker quiet for worker_timeout, or busy with one shard for longer
//               than shard_timeout, is lost and its outstanding shards go back to pending;
//            5. the end: all shards done or failed -> STOP {0 or 1}; no live worker left ->
//               STOP {1}; once stopping, the loop ends when no worker is live (all sent BYE
//               or were lost).
//   end:     journal "end", status.json with the final state, the result for the caller
//            (who calls MPI_Abort instead of MPI_Finalize when a worker was lost).
//
// ONE PROCESS (a world of size 1): the same scheduler, journal and progress drive a
// LocalShardRunner shard after shard; a drain signal or on_error=stop ends it between shards.
#include "orchestrator/coordinator.h"

#include <chrono>
#include <functional>
#include <map>

#include "common/error.h"
#include "common/log.h"
#include "orchestrator/journal.h"
#include "orchestrator/progress.h"
#include "orchestrator/signals.h"
#include "orchestrator/stages.h"

namespace csweep::orchestrator {

OnError parse_on_error(const std::string& s) {
  if (s == "continue") return OnError::Continue;
  if (s == "stop") return OnError::Stop;
  throw error_at("--on-error", "", "must be continue or stop, got '" + s + "'");
}

namespace {

using Clock = std::chrono::steady_clock;

const char* final_state(int exit_code, bool all_shards_settled) {
  if (exit_code == kExitRequeue) return "interrupted";
  if (exit_code == 2) return "aborted";
  if (exit_code == 1) return all_shards_settled ? "finished_with_errors" : "stopped";
  return "finished";
}

// What both ways of running share: the scheduler, the journal, progress, errors.jsonl and
// the run's end.
class Run {
 public:
  Run(const store::Store& store, std::vector<ScheduledShard> shards,
      const std::vector<uint8_t>& already_done, const CoordinatorOptions& opt,
      const nlohmann::json& run_info, int ranks, StageTracker* stages)
      : store(store),
        opt(opt),
        sched(std::move(shards), already_done, opt.max_retries),
        journal(store.dir()),
        progress(store, sched, opt.progress_interval_s, run_info),
        done_at_start(sched.done_count()),
        stages(stages) {
    journal.event(
        "start", -1, 0,
        {{"ranks", ranks}, {"shards", sched.total()}, {"already_done", sched.done_count()}});
    if (stages) {
      sched.hold(stages->held());
      guard_stages([&] { return stages->release_ready(); });
    }
  }

  // A shard is done: a stage that reads it may have its cells chosen now.
  void completed(uint32_t shard, const std::vector<float>& values) {
    if (stages) guard_stages([&] { return stages->on_done(shard, values); });
  }

  // A shard failed for good: the stages that read it can never run.
  void failed_for_good(uint32_t shard) {
    if (!stages) return;
    std::string why;
    const std::vector<uint32_t> dead = stages->on_failed(shard, &why);
    if (sched.fail_held(dead) > 0) {
      record_error(-1, 0, std::to_string(dead.size()) + " stage shard(s) cannot run: " + why);
      note_error(why);
    }
  }

  // Choosing a stage's cells failed (a store write, a missing value): its shards fail.
  void guard_stages(const std::function<std::vector<uint32_t>()>& step) {
    try {
      sched.release(step());
    } catch (const std::exception& e) {
      std::vector<uint32_t> held;
      const std::vector<uint8_t> flags = stages->held();
      for (uint32_t id = 0; id < flags.size(); ++id)
        if (flags[id]) held.push_back(id);
      sched.fail_held(held);
      record_error(-1, 0, std::string("choosing a stage's cells: ") + e.what());
      note_error(e.what());
    }
  }

  // `attempt` > 0 with `retrying`: the shard went back to pending and will run again.
  void record_error(int64_t shard, int rank, const std::string& message, int attempt = 1,
                    bool retrying = false) {
    journal.event("failed", shard, rank,
                  {{"error", message}, {"attempt", attempt}, {"retrying", retrying}});
    nlohmann::json j{{"shard", shard},
                     {"rank", rank},
                     {"error", message},
                     {"attempt", attempt},
                     {"retrying", retrying}};
    if (store.slice().active()) j["slice"] = store.slice().text();
    if (std::FILE* f = std::fopen((store.dir() / "errors.jsonl").c_str(), "a")) {
      const std::string line = j.dump() + "\n";
      std::fwrite(line.data(), 1, line.size(), f);
      std::fclose(f);
    }
    log::get("coordinator")->warn("shard {} failed on rank {}: {}", shard, rank, message);
  }

  // A shard's run threw on `rank`. Returns true when the shard is now failed for good.
  bool shard_failed(int rank, uint32_t shard, const std::string& message) {
    const bool final = sched.failed(rank, shard);
    const bool retrying = !final && sched.state(shard) == ShardState::Pending;
    record_error(shard, rank, message, sched.attempts(shard), retrying);
    if (final) note_error("shard " + std::to_string(shard) + ": " + message);
    if (final) failed_for_good(shard);
    return final;
  }

  void note_error(const std::string& e) {
    if (first_error.empty()) first_error = e;
  }

  CoordinatorResult finish(int exit_code, const std::string& abort_reason) {
    journal.event("end", -1, -1, {{"exit_code", exit_code}});
    journal.flush();
    progress.finish(final_state(exit_code, sched.finished()), exit_code);
    CoordinatorResult r;
    r.exit_code = exit_code;
    if (exit_code == kExitRequeue)
      r.message = "interrupted by signal; rerun the same command to resume";
    else if (!abort_reason.empty())
      r.message = abort_reason;
    else if (exit_code == 1)
      r.message = std::to_string(sched.failed_count()) + " of " + std::to_string(sched.total()) +
                  " shards failed (see " + (store.dir() / "errors.jsonl").string() +
                  "); first: " + first_error;
    r.shards_done = sched.done_count();
    r.shards_total = sched.total();
    r.shards_failed = sched.failed_count();
    r.shards_done_this_run = sched.done_count() - done_at_start;
    return r;
  }

  const store::Store& store;
  const CoordinatorOptions& opt;
  Scheduler sched;
  Journal journal;
  Progress progress;
  const int64_t done_at_start;
  StageTracker* stages;
  std::string first_error;
};

CoordinatorResult run_in_process(Run& run, LocalShardRunner& local) {
  Scheduler& sched = run.sched;
  int exit_code = 0;
  while (true) {
    if (drain_signal()) {
      run.journal.event("signal", -1, 0, {{"signal", drain_signal()}});
      exit_code = kExitRequeue;
      break;
    }
    if (run.opt.on_error == OnError::Stop && sched.failed_count() > 0) {
      exit_code = 1;
      break;
    }
    auto next = sched.next_for(0);
    if (!next) break;
    run.journal.event("assign", *next, 0);
    ShardOutcome out = local.run(*next);
    if (out.ok) {
      if (sched.done(0, *next)) run.completed(*next, out.values);
      run.journal.event("done", *next, 0);
    } else {
      run.shard_failed(0, *next, out.error);
    }
    run.progress.tick(1);
  }
  if (exit_code == 0 && sched.failed_count() > 0) exit_code = 1;
  return run.finish(exit_code, "");
}

struct WorkerState {
  enum class Phase { Starting, Ready, Lost, Gone } phase = Phase::Starting;
  Clock::time_point last_heard;
  Clock::time_point busy_since;  // when the shard it is computing now (its oldest) started
  bool live() const { return phase == Phase::Starting || phase == Phase::Ready; }
};

// The loop over a world of workers (the top of this file).
class WorldLoop {
 public:
  WorldLoop(Comm& comm, Run& run)
      : comm_(comm),
        run_(run),
        sched_(run.sched),
        opt_(run.opt),
        group_size_(std::max(1, opt_.tensor_parallel)) {
    if ((comm_.size() - 1) % group_size_ != 0)
      throw Error("coordinator: " + std::to_string(comm_.size() - 1) +
                  " worker ranks do not form groups of " + std::to_string(group_size_));
  }

  CoordinatorResult operator()() {
    const auto t0 = Clock::now();
    for (int r = 1; r < comm_.size(); ++r) {
      workers_[r].last_heard = t0;
      Message start{MessageType::Start};
      start.code = group_size_;  // the group size rank 0 settled on (model.tensor_parallel: auto)
      comm_.send(r, start);
    }
    Message m;
    while (true) {
      while (comm_.poll(m)) handle(m);
      if (drain_signal() && !stopping_) {
        run_.journal.event("signal", -1, 0, {{"signal", drain_signal()}});
        stop_all(kExitRequeue);
      }
      if (!stopping_) hand_out_work();
      watch_silence();
      check_end();
      if (stopping_ && live() == 0) break;
      run_.progress.tick(live());
      if (comm_.wait(m, 0.05, stopping_ ? nullptr : drain_signal_flag())) handle(m);
    }
    CoordinatorResult r = run_.finish(exit_code_, abort_reason_);
    for (auto& [rank, w] : workers_)
      r.lost_workers = r.lost_workers || w.phase == WorkerState::Phase::Lost;
    return r;
  }

 private:
  int live() const {
    int n = 0;
    for (const auto& [r, w] : workers_) n += w.live() ? 1 : 0;
    return n;
  }

  void stop_all(int code) {
    if (stopping_) return;
    stopping_ = true;
    exit_code_ = code;
    run_.journal.event("stop", -1, -1, {{"code", code}});
    Message m{MessageType::Stop};
    m.code = code;
    for (auto& [r, w] : workers_)
      if (w.live() && leader_of(r) == r) comm_.send(r, m);  // leaders relay it to their members
  }

  // The first rank of `r`'s group: the one that gets work and answers for the group.
  int leader_of(int r) const { return 1 + (r - 1) / group_size_ * group_size_; }

  bool group_ready(int leader) const {
    for (int r = leader; r < leader + group_size_; ++r)
      if (workers_.at(r).phase != WorkerState::Phase::Ready) return false;
    return true;
  }

  // A rank that is lost takes its group with it: the others may be waiting on it inside a
  // collective, so none of them can be trusted to finish a shard.
  void lose(int r, const std::string& why) {
    const int leader = leader_of(r);
    if (!workers_[r].live()) return;
    std::vector<uint32_t> back = sched_.lose_worker(leader);
    for (int g = leader; g < leader + group_size_; ++g)
      if (workers_[g].live()) workers_[g].phase = WorkerState::Phase::Lost;
    nlohmann::json details{{"reason", why}, {"reissued", back}};
    if (group_size_ > 1) details["group_leader"] = leader;
    run_.journal.event("lost", -1, r, details);
    if (group_size_ > 1)
      log::get("coordinator")
          ->warn("worker rank {} lost ({}): its group (leader {}) is lost; re-issuing {} shard(s)",
                 r, why, leader, back.size());
    else
      log::get("coordinator")
          ->warn("worker rank {} lost ({}); re-issuing {} shard(s)", r, why, back.size());
  }

  void handle(const Message& m) {
    auto it = workers_.find(m.source);
    if (it == workers_.end()) return;
    WorkerState& w = it->second;
    w.last_heard = Clock::now();
    switch (m.type) {
      case MessageType::Hello:
        on_hello(m);
        break;
      case MessageType::Ready:
        if (w.phase == WorkerState::Phase::Starting) w.phase = WorkerState::Phase::Ready;
        run_.journal.event("ready", -1, m.source);
        break;
      case MessageType::Done:
        w.busy_since = w.last_heard;  // a result: the worker moves on to its next queued shard now
        if (sched_.done(m.source, m.shard)) {
          run_.journal.event("done", m.shard, m.source, {{"seconds", m.seconds}});
          run_.completed(m.shard, unpack_values(m.text));
        } else
          run_.journal.event("duplicate", m.shard, m.source);
        break;
      case MessageType::Failed:
        w.busy_since = w.last_heard;
        on_failed(m);
        break;
      case MessageType::Signaled:
        run_.journal.event("signal", -1, m.source, {{"signal", m.code}});
        stop_all(kExitRequeue);
        break;
      case MessageType::Bye:
        if (w.phase != WorkerState::Phase::Lost && leader_of(m.source) == m.source)
          sched_.lose_worker(m.source);
        w.phase = WorkerState::Phase::Gone;
        run_.journal.event("bye", -1, m.source);
        break;
      case MessageType::Heartbeat:
        break;
      default:
        log::get("coordinator")
            ->warn("unexpected {} from rank {}", message_type_name(m.type), m.source);
    }
  }

  void on_hello(const Message& m) {
    if (m.version != kProtocolVersion && abort_reason_.empty()) {
      abort_reason_ = "rank " + std::to_string(m.source) + " speaks protocol version " +
                      std::to_string(m.version) + ", the coordinator " +
                      std::to_string(kProtocolVersion) + " (mixed csweep builds?)";
      stop_all(2);
    }
    run_.journal.event("hello", -1, m.source, {{"from", m.text}});
  }

  void on_failed(const Message& m) {
    if (m.shard == kNoShard) {  // the worker could not start (model, fragment): it gets no work
      run_.record_error(-1, m.source, m.text);
      run_.note_error("rank " + std::to_string(m.source) + ": " + m.text);
      lose(m.source, "start-up failed: " + m.text);
      if (opt_.on_error == OnError::Stop) stop_all(1);
      return;
    }
    if (run_.shard_failed(m.source, m.shard, m.text) && opt_.on_error == OnError::Stop) stop_all(1);
  }

  void hand_out_work() {
    for (auto& [r, w] : workers_) {
      if (leader_of(r) != r || !group_ready(r)) continue;
      while (sched_.outstanding(r) < opt_.prefetch) {
        const bool idle = sched_.outstanding(r) == 0;
        auto next = sched_.next_for(r);
        if (!next) break;
        if (idle) w.busy_since = Clock::now();
        Message a{MessageType::Assign};
        a.shard = *next;
        comm_.send(r, a);
        run_.journal.event("assign", *next, r);
      }
    }
  }

  void watch_silence() {
    const auto now = Clock::now();
    auto seconds_since = [&](Clock::time_point t) {
      return std::chrono::duration<double>(now - t).count();
    };
    for (auto& [r, w] : workers_) {
      if (w.live() && seconds_since(w.last_heard) > opt_.worker_timeout_s)
        lose(r, "no message for " + std::to_string(static_cast<int>(opt_.worker_timeout_s)) + " s");
      else if (opt_.shard_timeout_s > 0 && w.phase == WorkerState::Phase::Ready &&
               sched_.outstanding(r) > 0 && seconds_since(w.busy_since) > opt_.shard_timeout_s)
        lose(r, "hung: one shard took longer than --shard-timeout " +
                    std::to_string(static_cast<int>(opt_.shard_timeout_s)) + " s");
    }
  }

  void check_end() {
    if (stopping_) return;
    if (sched_.finished()) {
      stop_all(sched_.failed_count() > 0 ? 1 : 0);
    } else if (live() == 0) {
      run_.note_error("every worker was lost");
      abort_reason_ = "no worker left (" + run_.first_error + ")";
      stop_all(1);
    }
  }

  Comm& comm_;
  Run& run_;
  Scheduler& sched_;
  const CoordinatorOptions& opt_;
  const int group_size_;
  std::map<int, WorkerState> workers_;
  bool stopping_ = false;
  int exit_code_ = 0;
  std::string abort_reason_;
};

}  // namespace

CoordinatorResult coordinate(Comm& comm, const store::Store& store,
                             std::vector<ScheduledShard> shards,
                             const std::vector<uint8_t>& already_done,
                             const CoordinatorOptions& opt, LocalShardRunner* local,
                             const nlohmann::json& run_info, StageTracker* stages) {
  install_drain_signal_handlers();
  if (comm.size() == 1 && !local)
    throw Error("coordinator: a single-process run needs a local shard runner");
  Run run(store, std::move(shards), already_done, opt, run_info, comm.size(), stages);
  if (comm.size() == 1) return run_in_process(run, *local);
  return WorldLoop(comm, run)();
}

}  // namespace csweep::orchestrator
