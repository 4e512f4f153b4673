#pragma once
// The coordinator's loop on an InProcessWorld: rank 0 runs the real coordinate() over a real
// store (journal, status.json, errors.jsonl); ranks 1..N are scripted workers on threads that
// speak the protocol and answer each ASSIGN as their script says (done, fail, ack twice,
// signal, vanish, hang), so every path of the loop can be driven without mpirun.
#include <atomic>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "orchestrator/coordinator.h"
#include "orchestrator/in_process_comm.h"
#include "store/store.h"

namespace csweep::testing {

// What a scripted worker does; the defaults make a well-behaved worker.
struct Script {
  bool ack_twice = false;          // every DONE is sent twice
  int signal_after = -1;           // SIGNALED (as on SIGTERM) after this many results
  int raise_after = -1;            // raise(SIGUSR1) in this process after this many results
  int vanish_after_assigns = -1;   // cut off from the world on this ASSIGN (1 = the first)
  bool hang = false;               // never answers an ASSIGN, but keeps sending heartbeats
  bool vanish_when_ready = false;  // cut off from the world right after READY
  std::vector<int> members;        // a group leader's members: it relays STOP to them
  uint16_t version = orchestrator::kProtocolVersion;
};

// Shard failures shared by all workers: shard -> how many more runs fail (-1: every run).
class Faults {
 public:
  explicit Faults(std::map<uint32_t, int> failures = {}) : left_(std::move(failures)) {}
  bool fails(uint32_t shard) {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = left_.find(shard);
    if (it == left_.end() || it->second == 0) return false;
    if (it->second > 0) --it->second;
    return true;
  }

 private:
  std::mutex mutex_;
  std::map<uint32_t, int> left_;
};

struct WorkerRecord {
  std::vector<uint32_t> assigned;
  int stop_code = -1;  // the STOP code it got; -1: none
};

inline void scripted_worker(orchestrator::InProcessWorld& world, int rank, const Script& s,
                            Faults& faults, WorkerRecord& record, const std::atomic<bool>& over) {
  using orchestrator::Message;
  using orchestrator::MessageType;
  orchestrator::Comm& comm = world.endpoint(rank);
  Message hello{MessageType::Hello};
  hello.version = s.version;
  hello.text = "scripted " + std::to_string(rank);
  comm.send(0, hello);
  bool ready = false;
  int results = 0;
  Message m;
  while (!over && !world.is_cut_off(rank)) {
    if (!comm.wait(m, 0.02)) {
      comm.send(0, Message{MessageType::Heartbeat});
      continue;
    }
    if (m.type == MessageType::Start && !ready) {
      ready = true;
      comm.send(0, Message{MessageType::Ready});
      if (s.vanish_when_ready) world.cut_off(rank);
    } else if (m.type == MessageType::Stop || m.type == MessageType::Abort) {
      record.stop_code = m.code;
      for (int member : s.members) comm.send(member, m);
      comm.send(0, Message{MessageType::Bye});
      return;
    } else if (m.type == MessageType::Assign) {
      record.assigned.push_back(m.shard);
      if (static_cast<int>(record.assigned.size()) == s.vanish_after_assigns) world.cut_off(rank);
      if (world.is_cut_off(rank) || s.hang) continue;
      Message r{faults.fails(m.shard) ? MessageType::Failed : MessageType::Done};
      r.shard = m.shard;
      r.cells = 1;
      if (r.type == MessageType::Failed)
        r.text = "scripted failure of shard " + std::to_string(m.shard);
      comm.send(0, r);
      if (s.ack_twice && r.type == MessageType::Done) comm.send(0, r);
      ++results;
      if (results == s.signal_after) {
        Message sig{MessageType::Signaled};
        sig.code = SIGTERM;
        comm.send(0, sig);
      }
      if (results == s.raise_after) std::raise(SIGUSR1);
    }
  }
}

// A store over `n_shards` one-cell shards (prompt = id % 4) and the matching scheduled shards.
struct SyntheticSweep {
  SyntheticSweep(const std::filesystem::path& dir, int64_t n_shards) {
    store::Layout layout;
    layout.analyses = {{"a", "synthetic", {{"cell", n_shards, {}}}}};
    layout.prompt_ids = {"p"};
    for (int64_t i = 0; i < n_shards; ++i) {
      layout.shards.push_back({static_cast<uint32_t>(i), 0, 0, i, i + 1});
      shards.push_back(
          {static_cast<uint32_t>(i), static_cast<uint32_t>(i % 4), double(n_shards - i), 1});
    }
    std::filesystem::remove_all(dir);
    store = std::make_unique<store::Store>(
        store::Store::open_for_run(dir, {"test", "test", layout}, false));
  }
  std::unique_ptr<store::Store> store;
  std::vector<orchestrator::ScheduledShard> shards;
};

// Runs coordinate() on rank 0 of a world with one scripted worker per script.
struct CoordinatedRun {
  orchestrator::CoordinatorResult result;
  std::vector<WorkerRecord> workers;  // index 0 = rank 1
};

// `failures`: shard -> how many of its runs fail, on whichever worker (-1: every run).
inline CoordinatedRun coordinate_scripted(SyntheticSweep& sweep, const std::vector<Script>& scripts,
                                          orchestrator::CoordinatorOptions opt = {},
                                          std::map<uint32_t, int> failures = {}) {
  opt.progress_interval_s = 0;
  Faults faults(std::move(failures));
  orchestrator::InProcessWorld world(static_cast<int>(scripts.size()) + 1);
  CoordinatedRun run;
  run.workers.resize(scripts.size());
  std::atomic<bool> over{false};
  std::vector<std::thread> threads;
  for (size_t i = 0; i < scripts.size(); ++i)
    threads.emplace_back(scripted_worker, std::ref(world), static_cast<int>(i) + 1,
                         std::cref(scripts[i]), std::ref(faults), std::ref(run.workers[i]),
                         std::cref(over));
  run.result =
      orchestrator::coordinate(world.endpoint(0), *sweep.store, sweep.shards, {}, opt, nullptr, {});
  over = true;
  for (auto& t : threads) t.join();
  return run;
}

inline std::vector<nlohmann::json> json_lines(const std::filesystem::path& file) {
  std::vector<nlohmann::json> out;
  std::ifstream in(file);
  for (std::string line; std::getline(in, line);)
    if (!line.empty()) out.push_back(nlohmann::json::parse(line));
  return out;
}

// Every journal event of the store, in order.
inline std::vector<nlohmann::json> journal_events(const std::filesystem::path& store) {
  std::vector<nlohmann::json> out;
  for (const auto& f : std::filesystem::directory_iterator(store / "journal"))
    for (auto& j : json_lines(f.path())) out.push_back(std::move(j));
  return out;
}

// shard -> how many "done" events the journal holds for it.
inline std::map<int64_t, int> done_events(const std::vector<nlohmann::json>& journal) {
  std::map<int64_t, int> n;
  for (const auto& e : journal)
    if (e["ev"] == "done") ++n[e["shard"].get<int64_t>()];
  return n;
}

}  // namespace csweep::testing
