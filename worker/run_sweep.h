#pragma once
// `csweep run` on every rank: rank 0 sets up the store and coordinates; the other ranks
// work. Started without a launcher, one process does both (same scheduler, no messages).
#include <filesystem>
#include <string>

#include "orchestrator/coordinator.h"
#include "store/run_scope.h"

namespace csweep::worker {

struct RunOptions {
  std::filesystem::path job;
  std::filesystem::path store;  // empty: the job file's `store:`
  bool force_new = false;
  std::string executor;         // "" = the real computation; "synthetic:..." for tests/benchmarks
  orchestrator::CoordinatorOptions coordinator;  // on_error / max_retries: see below
  std::string on_error;         // "" = the job's run.on_error
  int max_retries = -1;         // -1 = the job's run.max_retries
  store::Slice slice;           // --slice k/N: only shards with id % N == k
  double heartbeat_s = 1.0;
  bool json = false;            // print the summary as JSON on stdout
};

// Returns the exit code (0, 1, 75; see orchestrator/protocol.h). Rank 0 throws csweep::Error
// for bad input (after telling the workers to exit); worker ranks never print it.
int run_sweep(const RunOptions& options);

}  // namespace csweep::worker
