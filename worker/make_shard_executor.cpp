// The one place that decides what computes a shard: the jobs -> analyses executor, or the
// synthetic one for tests and benchmarks of the distributed machinery.
#include "common/error.h"
#include "jobs/job_spec.h"
#include "worker/analysis_executor.h"
#include "worker/shard_executor.h"
#include "worker/synthetic_executor.h"

namespace csweep::worker {

std::unique_ptr<ShardExecutor> make_shard_executor(const jobs::JobSpec& spec,
                                                   const sharding::Plan& plan,
                                                   const WorkerContext& context) {
  if (context.executor.rfind("synthetic", 0) == 0)
    return std::make_unique<SyntheticExecutor>(parse_synthetic_options(context.executor),
                                               context.rank);
  if (!context.executor.empty())
    throw error_at("--executor", "", "unknown executor '" + context.executor + "'");
  return make_analysis_executor(spec, plan, context);
}

}  // namespace csweep::worker
