#pragma once
// The real ShardExecutor: maps a job's analyses (jobs/) onto the analyses library's sweep
// requests and computes each shard's cells with the fast path. The model is loaded once per
// worker and the clean/corrupted caches of a prompt are kept between the shards of that prompt.
#include <memory>

#include "worker/shard_executor.h"

namespace csweep::worker {

// The job's model.device exists on this machine (cpu, or a visible cuda:N); otherwise
// "JOB: model.device: reason". Called before a one-process run opens its store.
void check_job_device(const jobs::JobSpec& spec);

std::unique_ptr<ShardExecutor> make_analysis_executor(const jobs::JobSpec& spec,
                                                      const sharding::Plan& plan,
                                                      const WorkerContext& context);

}  // namespace csweep::worker
