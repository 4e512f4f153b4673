#pragma once
// The real ShardExecutor: maps a job's analyses (jobs/) onto the analyses library's sweep
// requests and computes each shard's cells with the fast path. The model is loaded once per
// worker and the clean/corrupted caches of a prompt are kept between the shards of that prompt.
#include <memory>
#include <vector>

#include "analyses/sweep.h"
#include "worker/shard_executor.h"

namespace csweep::worker {

// The job's model.device exists on this machine (cpu, or a visible cuda:N); otherwise
// "JOB: model.device: reason". Called before a one-process run opens its store.
void check_job_device(const jobs::JobSpec& spec);

// What the executor computes a shard from: one analysis of the job for one prompt as the
// analyses library's request (the kind's typed options mapped onto it), and the plan's grid (the
// kind's one grid) in that library's terms.
analyses::SweepRequest request_for(const jobs::JobSpec& spec, const jobs::AnalysisSpec& a,
                                   size_t prompt_index, const model::Model& model);
std::vector<analyses::GridAxis> analyses_axes(const sharding::AnalysisGrid& grid);

std::unique_ptr<ShardExecutor> make_analysis_executor(const jobs::JobSpec& spec,
                                                      const sharding::Plan& plan,
                                                      const WorkerContext& context);

}  // namespace csweep::worker
