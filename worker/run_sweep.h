#pragma once
// `csweep run` on every rank: rank 0 sets up the store and coordinates
// (orchestrator/run_rank0.h); the other ranks work (worker_loop.h). Started without a
// launcher, one process does both (same scheduler, no messages).
#include "orchestrator/comm.h"
#include "orchestrator/run_rank0.h"

namespace csweep::worker {

// On the MPI world. Returns the exit code (0, 1, 75; see orchestrator/protocol.h). Rank 0
// throws csweep::Error for bad input (after telling the workers to exit); worker ranks never
// print it.
int run_sweep(const orchestrator::RunOptions& options);
// The same on any world (the in-process tests run one per thread of an InProcessWorld).
int run_rank(orchestrator::Comm& comm, const orchestrator::RunOptions& options);

}  // namespace csweep::worker
