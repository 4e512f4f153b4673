#include "orchestrator/coordinator.h"

#include <chrono>
#include <map>

#include "common/error.h"
#include "common/log.h"
#include "orchestrator/journal.h"
#include "orchestrator/progress.h"
#include "orchestrator/signals.h"
#include "store/store.h"

namespace csweep::orchestrator {

OnError parse_on_error(const std::string& s) {
  if (s == "continue") return OnError::Continue;
  if (s == "stop") return OnError::Stop;
  throw error_at("--on-error", "", "must be continue or stop, got '" + s + "'");
}

namespace {

using Clock = std::chrono::steady_clock;

// `attempt` > 0 with `retrying`: the shard goes back to pending and will run again.
void record_error(const store::Store& store, Journal& journal, int64_t shard, int rank, const std::string& message,
                  int attempt = 1, bool retrying = false) {
  journal.event("failed", shard, rank, {{"error", message}, {"attempt", attempt}, {"retrying", retrying}});
  nlohmann::json j{{"shard", shard}, {"rank", rank}, {"error", message}, {"attempt", attempt}, {"retrying", retrying}};
  if (store.slice().active()) j["slice"] = store.slice().text();
  std::FILE* f = std::fopen((store.dir() / "errors.jsonl").c_str(), "a");
  if (f) {
    const std::string line = j.dump() + "\n";
    std::fwrite(line.data(), 1, line.size(), f);
    std::fclose(f);
  }
  log::get("coordinator")->warn("shard {} failed on rank {}: {}", shard, rank, message);
}

CoordinatorResult summarize(const Scheduler& s, int exit_code, std::string message, int64_t done_at_start) {
  CoordinatorResult r;
  r.exit_code = exit_code;
  r.message = std::move(message);
  r.shards_done = s.done_count();
  r.shards_total = s.total();
  r.shards_failed = s.failed_count();
  r.shards_done_this_run = s.done_count() - done_at_start;
  return r;
}

std::string finish_message(const Scheduler& s, const store::Store& store, const std::string& first_error) {
  return std::to_string(s.failed_count()) + " of " + std::to_string(s.total()) + " shards failed (see " +
         (store.dir() / "errors.jsonl").string() + "); first: " + first_error;
}

CoordinatorResult coordinate_in_process(const store::Store& store, Scheduler& sched, const CoordinatorOptions& opt,
                                        LocalShardRunner& local, Journal& journal, Progress& progress) {
  const int64_t done_at_start = sched.done_count();
  std::string first_error;
  int exit_code = 0;
  std::string state = "finished";
  while (true) {
    if (drain_signal()) {
      journal.event("signal", -1, 0, {{"signal", drain_signal()}});
      exit_code = kExitRequeue;
      state = "interrupted";
      break;
    }
    if (opt.on_error == OnError::Stop && sched.failed_count() > 0) {
      exit_code = 1;
      state = "stopped";
      break;
    }
    auto next = sched.next_for(0);
    if (!next) break;
    journal.event("assign", *next, 0);
    ShardOutcome out = local.run(*next);
    if (out.ok) {
      sched.done(0, *next);
      journal.event("done", *next, 0);
    } else {
      const bool final = sched.failed(0, *next);
      record_error(store, journal, *next, 0, out.error, sched.attempts(*next), !final);
      if (final && first_error.empty()) first_error = "shard " + std::to_string(*next) + ": " + out.error;
    }
    progress.tick(1);
  }
  if (exit_code == 0 && sched.failed_count() > 0) {
    exit_code = 1;
    state = "finished_with_errors";
  }
  journal.event("end", -1, -1, {{"exit_code", exit_code}});
  journal.flush();
  progress.finish(state, exit_code);
  std::string message;
  if (exit_code == kExitRequeue) message = "interrupted by signal; rerun the same command to resume";
  else if (exit_code == 1) message = finish_message(sched, store, first_error);
  return summarize(sched, exit_code, message, done_at_start);
}

struct WorkerState {
  enum class Phase { Starting, Ready, Lost, Gone } phase = Phase::Starting;
  Clock::time_point last_heard;
  Clock::time_point busy_since;  // when the shard it is computing now (its oldest) started
  bool got_signal = false;
};

}  // namespace

CoordinatorResult coordinate(Comm& comm, const store::Store& store, std::vector<ScheduledShard> shards,
                             const std::vector<uint8_t>& already_done, const CoordinatorOptions& opt,
                             LocalShardRunner* local, const nlohmann::json& run_info) {
  auto log = log::get("coordinator");
  install_drain_signal_handlers();
  Scheduler sched(std::move(shards), already_done, opt.max_retries);
  Journal journal(store.dir());
  Progress progress(store, sched, opt.progress_interval_s, run_info);
  journal.event("start", -1, 0, {{"ranks", comm.size()}, {"shards", sched.total()}, {"already_done", sched.done_count()}});

  if (comm.size() == 1) {
    if (!local) throw Error("coordinator: a single-process run needs a local shard runner");
    return coordinate_in_process(store, sched, opt, *local, journal, progress);
  }

  const int64_t done_at_start = sched.done_count();
  std::map<int, WorkerState> workers;
  const auto t0 = Clock::now();
  for (int r = 1; r < comm.size(); ++r) workers[r].last_heard = t0;
  // START goes to everyone at once; HELLO (version check) may arrive before or after.
  for (int r = 1; r < comm.size(); ++r) comm.send(r, Message{MessageType::Start});

  bool stopping = false;
  int exit_code = 0;
  std::string state = "finished", first_error, abort_reason;
  auto live = [&] {
    int n = 0;
    for (auto& [r, w] : workers)
      if (w.phase == WorkerState::Phase::Starting || w.phase == WorkerState::Phase::Ready) ++n;
    return n;
  };
  auto stop_all = [&](int code) {
    if (stopping) return;
    stopping = true;
    exit_code = code;
    journal.event("stop", -1, -1, {{"code", code}});
    for (auto& [r, w] : workers)
      if (w.phase == WorkerState::Phase::Starting || w.phase == WorkerState::Phase::Ready) {
        Message m{MessageType::Stop};
        m.code = code;
        comm.send(r, m);
      }
  };
  auto lose = [&](int r, const std::string& why) {
    WorkerState& w = workers[r];
    if (w.phase == WorkerState::Phase::Lost || w.phase == WorkerState::Phase::Gone) return;
    w.phase = WorkerState::Phase::Lost;
    auto back = sched.lose_worker(r);
    journal.event("lost", -1, r, {{"reason", why}, {"reissued", back}});
    log->warn("worker rank {} lost ({}); re-issuing {} shard(s)", r, why, back.size());
  };

  auto handle = [&](const Message& m) {
    auto it = workers.find(m.source);
    if (it == workers.end()) return;
    WorkerState& w = it->second;
    w.last_heard = Clock::now();
    // A result means the worker moves on to its next queued shard now.
    if (m.type == MessageType::Done || m.type == MessageType::Failed) w.busy_since = w.last_heard;
    switch (m.type) {
      case MessageType::Hello:
        if (m.version != kProtocolVersion && abort_reason.empty()) {
          abort_reason = "rank " + std::to_string(m.source) + " speaks protocol version " + std::to_string(m.version) +
                         ", the coordinator " + std::to_string(kProtocolVersion) + " (mixed csweep builds?)";
          stop_all(2);
        }
        journal.event("hello", -1, m.source, {{"from", m.text}});
        break;
      case MessageType::Ready:
        if (w.phase == WorkerState::Phase::Starting) w.phase = WorkerState::Phase::Ready;
        journal.event("ready", -1, m.source);
        break;
      case MessageType::Done:
        if (sched.done(m.source, m.shard)) journal.event("done", m.shard, m.source, {{"seconds", m.seconds}});
        else journal.event("duplicate", m.shard, m.source);
        break;
      case MessageType::Failed:
        if (m.shard == kNoShard) {  // the worker could not start (model, fragment): it gets no work
          record_error(store, journal, -1, m.source, m.text);
          if (first_error.empty()) first_error = "rank " + std::to_string(m.source) + ": " + m.text;
          lose(m.source, "start-up failed: " + m.text);
          if (opt.on_error == OnError::Stop) stop_all(1);
        } else {
          const bool final = sched.failed(m.source, m.shard);
          const bool retrying = !final && sched.state(m.shard) == ShardState::Pending;
          record_error(store, journal, m.shard, m.source, m.text, sched.attempts(m.shard), retrying);
          if (final && first_error.empty()) first_error = "shard " + std::to_string(m.shard) + ": " + m.text;
          if (final && opt.on_error == OnError::Stop) stop_all(1);
        }
        break;
      case MessageType::Signaled:
        journal.event("signal", -1, m.source, {{"signal", m.code}});
        w.got_signal = true;
        stop_all(kExitRequeue);
        break;
      case MessageType::Bye:
        if (w.phase != WorkerState::Phase::Lost) sched.lose_worker(m.source);
        w.phase = WorkerState::Phase::Gone;
        journal.event("bye", -1, m.source);
        break;
      case MessageType::Heartbeat:
        break;
      default:
        log->warn("unexpected {} from rank {}", message_type_name(m.type), m.source);
    }
  };

  Message m;
  while (true) {
    // 1. everything that arrived
    while (comm.poll(m)) handle(m);
    // 2. signals on this rank
    if (drain_signal() && !stopping) {
      journal.event("signal", -1, 0, {{"signal", drain_signal()}});
      stop_all(kExitRequeue);
    }
    // 3. hand out work
    if (!stopping) {
      for (auto& [r, w] : workers) {
        if (w.phase != WorkerState::Phase::Ready) continue;
        while (sched.outstanding(r) < opt.prefetch) {
          const bool idle = sched.outstanding(r) == 0;
          auto next = sched.next_for(r);
          if (!next) break;
          if (idle) w.busy_since = Clock::now();
          Message a{MessageType::Assign};
          a.shard = *next;
          comm.send(r, a);
          journal.event("assign", *next, r);
        }
      }
    }
    // 4. silence
    const auto now = Clock::now();
    for (auto& [r, w] : workers)
      if ((w.phase == WorkerState::Phase::Starting || w.phase == WorkerState::Phase::Ready) &&
          std::chrono::duration<double>(now - w.last_heard).count() > opt.worker_timeout_s)
        lose(r, "no message for " + std::to_string(static_cast<int>(opt.worker_timeout_s)) + " s");
    if (opt.shard_timeout_s > 0)
      for (auto& [r, w] : workers)
        if (w.phase == WorkerState::Phase::Ready && sched.outstanding(r) > 0 &&
            std::chrono::duration<double>(now - w.busy_since).count() > opt.shard_timeout_s)
          lose(r, "hung: one shard took longer than --shard-timeout " +
                      std::to_string(static_cast<int>(opt.shard_timeout_s)) + " s");
    // 5. the end
    if (!stopping && sched.finished()) stop_all(sched.failed_count() > 0 ? 1 : 0);
    if (!stopping && live() == 0) {
      first_error = first_error.empty() ? "every worker was lost" : first_error;
      abort_reason = "no worker left (" + first_error + ")";
      stop_all(1);
    }
    if (stopping && live() == 0) break;
    progress.tick(live());
    if (comm.wait(m, 0.05, stopping ? nullptr : drain_signal_flag())) handle(m);
  }
  (void)t0;
  bool lost = false;
  for (auto& [r, w] : workers) lost = lost || w.phase == WorkerState::Phase::Lost;
  if (exit_code == kExitRequeue) state = "interrupted";
  else if (exit_code == 2) state = "aborted";
  else if (exit_code == 1) state = sched.finished() ? "finished_with_errors" : "stopped";
  journal.event("end", -1, -1, {{"exit_code", exit_code}});
  journal.flush();
  progress.finish(state, exit_code);
  std::string message;
  if (exit_code == kExitRequeue) message = "interrupted by signal; rerun the same command to resume";
  else if (!abort_reason.empty()) message = abort_reason;
  else if (exit_code == 1) message = finish_message(sched, store, first_error);
  CoordinatorResult r = summarize(sched, exit_code, message, done_at_start);
  r.lost_workers = lost;
  return r;
}

}  // namespace csweep::orchestrator
