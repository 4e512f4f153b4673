#pragma once
// Rank 0 of `csweep run`: hands shards to workers and sees the sweep through to the end
// (protocol.h). In a single-process run it drives a LocalShardRunner instead of messages,
// with the same scheduler, journal, progress and exit codes.
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "orchestrator/comm.h"
#include "orchestrator/scheduler.h"
#include "store/store.h"

namespace csweep::orchestrator {

enum class OnError { Continue, Stop };
OnError parse_on_error(const std::string& s);  // "continue" | "stop"; throws csweep::Error

struct CoordinatorOptions {
  int prefetch = 2;                 // shards outstanding per worker (hides the round trip)
  double worker_timeout_s = 120.0;  // silence after which a worker is lost (covers model loading)
  double progress_interval_s = 30.0;
  OnError on_error = OnError::Continue;
  int max_retries = 0;  // re-runs of a failed shard before it counts as failed
  // A worker busy with one shard for longer than this (seconds; 0 = never) is hung inside its
  // executor: it is treated as lost, its shards go to other workers, and a result it still
  // sends later is kept only if no other copy came first. MPI runs only.
  double shard_timeout_s = 0.0;
  // Ranks per worker group (model.tensor_parallel): ranks 1..N-1 form groups of this many
  // consecutive ranks; the first of each, its leader, is the one that gets work.
  int tensor_parallel = 1;
};

struct ShardOutcome {
  bool ok = true;
  std::string error;
  std::vector<float> values;  // the shard's values (a single-process run: for the stages)
};

class StageTracker;

// What a single-process run executes shards with (worker/ implements it).
class LocalShardRunner {
 public:
  virtual ~LocalShardRunner() = default;
  virtual ShardOutcome run(uint32_t shard) = 0;
  virtual void close() {}  // after the last shard: make everything durable
};

struct CoordinatorResult {
  int exit_code = 0;
  std::string message;  // one line for the user when exit_code != 0
  int64_t shards_done = 0, shards_total = 0, shards_failed = 0, shards_done_this_run = 0;
  bool lost_workers = false;  // MPI_Finalize may hang: the caller aborts instead
};

// `shards` in id order; `already_done` from store::scan_done_shards. `run_info` goes into
// status.json (hosts, ranks). With comm.size() == 1, `local` must be set. `stages` (null when
// the job has none) holds back the stages' shards until their cells are chosen (stages.h).
CoordinatorResult coordinate(Comm& comm, const store::Store& store,
                             std::vector<ScheduledShard> shards,
                             const std::vector<uint8_t>& already_done,
                             const CoordinatorOptions& options, LocalShardRunner* local,
                             const nlohmann::json& run_info, StageTracker* stages = nullptr);

}  // namespace csweep::orchestrator
