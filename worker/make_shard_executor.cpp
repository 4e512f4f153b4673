// The one place that decides what computes a shard. The lead replaces the real branch with
// the jobs -> analyses executor; the synthetic one stays for tests and benchmarks.
#include "common/error.h"
#include "jobs/job_spec.h"
#include "worker/shard_executor.h"
#include "worker/synthetic_executor.h"

namespace csweep::worker {

std::unique_ptr<ShardExecutor> make_shard_executor(const jobs::JobSpec& spec, const sharding::Plan& plan,
                                                   const WorkerContext& context) {
  (void)plan;
  if (context.executor.rfind("synthetic", 0) == 0)
    return std::make_unique<SyntheticExecutor>(parse_synthetic_options(context.executor), context.rank);
  if (!context.executor.empty()) throw error_at("--executor", "", "unknown executor '" + context.executor + "'");
  throw error_at(spec.file.string(), "model",
                 "this build has no analysis executor wired into `csweep run` yet (use --executor synthetic to test "
                 "the distributed machinery)");
}

}  // namespace csweep::worker
