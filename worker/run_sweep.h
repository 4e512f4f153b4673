#pragma once
// `csweep run` on every rank: rank 0 sets up the store and coordinates; the other ranks
// work. Started without a launcher, one process does both (same scheduler, no messages).
#include <filesystem>
#include <string>

#include "orchestrator/coordinator.h"

namespace csweep::worker {

struct RunOptions {
  std::filesystem::path job;
  std::filesystem::path store;  // empty: the job file's `store:`
  bool force_new = false;
  std::string executor;         // "" = the real computation; "synthetic:..." for tests/benchmarks
  orchestrator::CoordinatorOptions coordinator;
  double heartbeat_s = 1.0;
  bool json = false;            // print the summary as JSON on stdout
};

// Returns the exit code (0, 1, 75; see orchestrator/protocol.h). Rank 0 throws csweep::Error
// for bad input (after telling the workers to exit); worker ranks never print it.
int run_sweep(const RunOptions& options);

}  // namespace csweep::worker
