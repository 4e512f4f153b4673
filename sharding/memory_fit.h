#pragma once
// Whether a plan fits the memory of one rank: its share of the weights (weight_bytes /
// tensor_parallel) plus the largest shard's activations and caches as the cost model estimates
// them, against the memory one rank has. `csweep plan` and `csweep run` refuse what does not fit
// before a store exists.
#include <cstdint>
#include <string>

#include "jobs/job_spec.h"
#include "model/config.h"
#include "sharding/plan.h"

namespace csweep::sharding {

struct RankMemory {
  uint64_t weights = 0;      // weight_bytes / tensor_parallel
  uint64_t activations = 0;  // the largest shard's peak (Plan::max_shard_memory_bytes)
  uint64_t total() const { return weights + activations; }
};
RankMemory rank_memory(const Plan& plan, int tensor_parallel);

// The memory one rank may use, and where that figure comes from (for messages and the plan).
struct MemoryLimit {
  uint64_t bytes = 0;  // 0: unknown, nothing is checked
  std::string source;  // "--mem-per-rank", "host memory 62.8 GiB / 2 ranks"
};

// `given` (--mem-per-rank) when not 0; else, for a CPU device, the host's memory
// (host_memory_bytes) shared by the `ranks_on_host` ranks; else none: a GPU's memory is not the
// host's, so a GPU job is checked only against --mem-per-rank.
MemoryLimit memory_limit(uint64_t given, const std::string& device, int ranks_on_host,
                         uint64_t host_bytes);

// The --mem-per-rank option of plan and run: a size such as 16GiB or 4000MB (job-file sizes);
// throws csweep::Error "--mem-per-rank: ..." for anything else.
uint64_t parse_mem_per_rank(const std::string& text);

// Throws csweep::Error "JOB: FIELD: ..." when the rank's memory exceeds the limit. FIELD is
// model.tensor_parallel when the weights alone do not fit, else sharding.memory_budget (fewer
// rows per forward).
void check_memory_fits(const jobs::JobSpec& spec, const Plan& plan, int tensor_parallel,
                       const MemoryLimit& limit);

// The job's tensor_parallel, or for `tensor_parallel: auto` the smallest T that splits the
// model (model::partition_of: T divides the heads and the MLP width, the KV heads split or are
// replicated), lets one rank hold its share of the weights plus the largest shard's
// activations within `limit`, and, when n_ranks > 1, divides the n_ranks - 1 worker ranks.
// Kinds that need gradients run only with T = 1. Throws csweep::Error
// "JOB: model.tensor_parallel: auto: ..." when no T qualifies or the limit is unknown.
int choose_tensor_parallel(const jobs::JobSpec& spec, const model::ModelConfig& config,
                           const Plan& plan, int n_ranks, const MemoryLimit& limit);

}  // namespace csweep::sharding
