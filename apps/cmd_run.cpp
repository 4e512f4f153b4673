// csweep run JOB.yaml [--store DIR] [--force-new]: one process when started plainly, the
// whole MPI world under mpirun/srun (rank 0 coordinates). Logic lives in worker/run_sweep.
#include "apps/command.h"
#include "orchestrator/coordinator.h"
#include "worker/run_sweep.h"

namespace {

csweep::apps::CommandRegistration reg(
    "run", "run a sweep (resumes an existing store; under mpirun/srun rank 0 coordinates)", [](CLI::App& sub) {
      auto opt = std::make_shared<csweep::worker::RunOptions>();
      auto on_error = std::make_shared<std::string>("continue");
      sub.add_option("job", opt->job, "job file (YAML)")->required()->check(CLI::ExistingFile);
      sub.add_option("--store", opt->store, "store directory (default: the job's store:)");
      sub.add_flag("--force-new", opt->force_new, "move an existing store aside and start over");
      sub.add_option("--on-error", *on_error, "when a shard fails: continue (default) or stop")
          ->check(CLI::IsMember({"continue", "stop"}));
      sub.add_option("--prefetch", opt->coordinator.prefetch, "shards outstanding per worker (default 2)")
          ->check(CLI::Range(1, 64));
      sub.add_option("--worker-timeout", opt->coordinator.worker_timeout_s,
                     "seconds of silence after which a worker is lost and its shards re-issued (default 120)")
          ->check(CLI::PositiveNumber);
      sub.add_option("--heartbeat", opt->heartbeat_s, "worker heartbeat interval in seconds (default 1)")
          ->check(CLI::PositiveNumber);
      sub.add_option("--progress-interval", opt->coordinator.progress_interval_s,
                     "seconds between progress lines when stderr is not a terminal (default 30; 0: none)");
      sub.add_option("--executor", opt->executor,
                     "what computes shards: empty = the analyses; synthetic[:sleep_ms=X,work=N,fail=ID;ID,fail_rank=R] "
                     "for testing the distributed machinery");
      sub.add_flag("--json", opt->json, "print the summary as JSON");
      return [opt, on_error] {
        opt->coordinator.on_error = csweep::orchestrator::parse_on_error(*on_error);
        return csweep::worker::run_sweep(*opt);
      };
    });

}  // namespace
