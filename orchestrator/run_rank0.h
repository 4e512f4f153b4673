#pragma once
// Rank 0 of `csweep run`: opens the store (spec check, lock, resume scan), records provenance,
// coordinates the shards (coordinator.h) and closes the run's provenance entry and summary.
// The other ranks run worker/'s loop; worker/run_sweep.h picks the side by rank.
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "orchestrator/comm.h"
#include "orchestrator/coordinator.h"
#include "orchestrator/sweep_setup.h"
#include "store/run_scope.h"

namespace csweep::orchestrator {

struct RunOptions {
  std::filesystem::path job;
  std::filesystem::path store;  // empty: the job file's `store:`
  bool force_new = false;
  std::string executor;  // "" = the real computation; "synthetic:..." for tests/benchmarks
  CoordinatorOptions coordinator;  // on_error / max_retries: see below
  std::string on_error;            // "" = the job's run.on_error
  int max_retries = -1;            // -1 = the job's run.max_retries
  store::Slice slice;              // --slice k/N: only shards with id % N == k
  int level = -1;                  // --level K: only stage level K's shards (stages.h); -1 all
  double heartbeat_s = 1.0;
  bool json = false;  // print the summary as JSON on stdout
  // --mem-per-rank: the memory one rank may use (0: the host's memory / the ranks on it, for a
  // CPU device; sharding/memory_fit.h).
  uint64_t mem_per_rank = 0;
};

// How a one-process run computes its shards. worker/ provides it (orchestrator/ does not
// depend on worker/).
struct LocalExecution {
  // Refuses, before the store exists, what this process cannot run (a device it lacks).
  std::function<void(const SweepSetup&)> check;
  // Refuses, before the store exists, what no rank could load (tensors whose shapes disagree
  // with config.json); called in every run, of one process or many.
  std::function<void(const SweepSetup&)> check_model;
  std::function<std::unique_ptr<LocalShardRunner>(const SweepSetup&,
                                                  const std::filesystem::path& store_dir)>
      make;
};

// Returns the exit code (0, 1, 75; see protocol.h). Throws csweep::Error for bad input after
// sending ABORT {2} to the workers. `hosts`: every rank's host name, in rank order.
int run_rank0(Comm& comm, const RunOptions& options, const std::vector<std::string>& hosts,
              const LocalExecution& local);

}  // namespace csweep::orchestrator
