// csweep run JOB.yaml [--store DIR] [--force-new] [--slice k/N] [--level K]: one process when
// started plainly, the whole MPI world under mpirun/srun (rank 0 coordinates). Logic lives in
// orchestrator/run_rank0 (rank 0) and worker/ (the other ranks), through worker/run_sweep.
#include "apps/command.h"
#include "sharding/memory_fit.h"
#include "store/run_scope.h"
#include "worker/run_sweep.h"

namespace {

csweep::apps::CommandRegistration run_command(
    "run", "run a sweep (resumes an existing store; under mpirun/srun rank 0 coordinates)",
    [](CLI::App& sub) {
      auto opt = std::make_shared<csweep::orchestrator::RunOptions>();
      auto slice = std::make_shared<std::string>();
      sub.add_option("job", opt->job, "job file (YAML)")->required()->check(CLI::ExistingFile);
      sub.add_option("--store", opt->store, "store directory (default: the job's store:)");
      sub.add_flag("--force-new", opt->force_new, "move an existing store aside and start over");
      sub.add_option("--slice", *slice,
                     "k/N: compute only the shards with id % N == k (one Slurm array task each; "
                     "slices share the "
                     "store, run at the same time, and each resumes on its own)");
      sub.add_option("--level", opt->level,
                     "K: compute only stage level K's shards (0: analyses without from:, K: "
                     "stages K steps from one; refused until level K-1 is complete; one chained "
                     "Slurm job each)")
          ->check(CLI::Range(0, 1000));
      sub.add_option("--on-error", opt->on_error,
                     "when a shard fails: continue or stop (default: the job's run.on_error, else "
                     "continue)")
          ->check(CLI::IsMember({"continue", "stop"}));
      sub.add_option("--max-retries", opt->max_retries,
                     "re-runs of a failed shard before it counts as failed (default: the job's "
                     "run.max_retries, else 0)")
          ->check(CLI::Range(0, 100));
      sub.add_option("--shard-timeout", opt->coordinator.shard_timeout_s,
                     "seconds one shard may take before its worker counts as hung and its shards "
                     "go to other "
                     "workers (MPI runs; default 0: never)")
          ->check(CLI::NonNegativeNumber);
      sub.add_option("--prefetch", opt->coordinator.prefetch,
                     "shards outstanding per worker (default 2)")
          ->check(CLI::Range(1, 64));
      sub.add_option("--worker-timeout", opt->coordinator.worker_timeout_s,
                     "seconds of silence after which a worker is lost and its shards re-issued "
                     "(default 120)")
          ->check(CLI::PositiveNumber);
      sub.add_option("--heartbeat", opt->heartbeat_s,
                     "worker heartbeat interval in seconds (default 1)")
          ->check(CLI::PositiveNumber);
      sub.add_option(
          "--progress-interval", opt->coordinator.progress_interval_s,
          "seconds between progress lines when stderr is not a terminal (default 30; 0: none)");
      sub.add_option("--executor", opt->executor,
                     "what computes shards: empty = the analyses; "
                     "synthetic[:sleep_ms=X,work=N,fail=ID;ID,flaky=ID;ID,"
                     "hang=ID;ID,fail_rank=R] for testing the distributed machinery");
      sub.add_flag("--json", opt->json, "print the summary as JSON");
      auto mem = std::make_shared<std::string>();
      sub.add_option("--mem-per-rank", *mem,
                     "memory one rank may use (16GiB, 4000MB); a job that needs more is refused "
                     "(default: this host's memory / the ranks on it, for a CPU device)");
      return [opt, slice, mem] {
        if (!slice->empty()) opt->slice = csweep::store::parse_slice(*slice);
        if (!mem->empty()) opt->mem_per_rank = csweep::sharding::parse_mem_per_rank(*mem);
        return csweep::worker::run_sweep(*opt);
      };
    });

}  // namespace
