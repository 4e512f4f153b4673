#pragma once
// The plan of a sweep: each analysis's unit space (a grid of cells per prompt), the cells
// grouped into shards, a cost model in FLOPs, and the rank layout. Pure functions of the job
// spec and the model config — never of the rank count — so a sweep's shard ids and numbers
// are the same however many ranks run it. No MPI, no torch.
#include <cstdint>
#include <string>
#include <vector>

#include "jobs/job_spec.h"
#include "model/config.h"

namespace csweep::sharding {

using jobs::Axis;  // the kind registry's (jobs/kinds/kind_registry.h)

// One analysis's result for ONE prompt is a row-major float array over `axes`.
struct AnalysisGrid {
  uint32_t analysis = 0;  // index into JobSpec::analyses
  std::string name;
  const jobs::Kind* kind = nullptr;
  std::vector<Axis> axes;  // the kind's grid, the one the worker computes over
  jobs::KindCost cost;     // the kind's cost-model inputs for this analysis
  int64_t cells() const;
  // Model layer from which the cell's patched forward must be recomputed (suffix start):
  // 0 for analyses that run whole forwards per prompt.
  int64_t start_layer(int64_t cell) const;
  int layer_axis_index() const;  // position of the "layer" axis in `axes`, -1 if none
};

struct Shard {
  uint32_t id = 0;  // 0..n-1, costliest first
  uint32_t analysis = 0;
  uint32_t prompt = 0;     // index into JobSpec::prompts
  int64_t cell_begin = 0;  // [cell_begin, cell_end) of that prompt's grid
  int64_t cell_end = 0;
  double flops = 0.0;         // estimated forward (+backward) work, caches included
  uint64_t result_bytes = 0;  // (cell_end - cell_begin) * sizeof(float)
  uint64_t memory_bytes = 0;  // estimated peak activation memory (caches + batch rows)
  int64_t start_layer = 0;    // every cell of the shard restarts at this layer
  int64_t cells() const { return cell_end - cell_begin; }
};

struct Plan {
  std::vector<AnalysisGrid> grids;  // one per analysis, same order
  std::vector<Shard> shards;        // shards[i].id == i
  int64_t total_cells() const;      // sum over grids of cells × prompts
  double total_flops() const;
  uint64_t total_result_bytes() const;
  uint64_t weight_bytes = 0;  // the whole model in the job's dtype
  uint64_t max_shard_memory_bytes = 0;
  int64_t batch_size = 0;  // rows per forward actually used
};

// Throws csweep::Error when the memory budget cannot hold even one row of some analysis.
Plan make_plan(const jobs::JobSpec& spec, const model::ModelConfig& config);

// Rank 0 coordinates; in a single-process run it also works. The other ranks form worker
// groups of `tensor_parallel` consecutive ranks (leader first).
struct RankLayout {
  int n_ranks = 1;
  int tensor_parallel = 1;
  int coordinator = 0;
  std::vector<std::vector<int>> groups;
  int group_of(int rank) const;  // -1 for a coordinator-only rank
};

// Throws csweep::Error when the worker ranks are not a multiple of tensor_parallel.
RankLayout layout_ranks(const Plan& plan, int n_ranks, int tensor_parallel);

// Estimated seconds to run the plan on `layout`: shards dealt costliest first to the least
// loaded group, each group computing at `gflops_per_group`.
double estimate_seconds(const Plan& plan, const RankLayout& layout, double gflops_per_group);

// Forward FLOPs of `rows` rows of `tokens` tokens through layers [start_layer, n_layers),
// plus the last-position unembedding of each row.
double forward_flops(const model::ModelConfig& config, int64_t tokens, int64_t start_layer,
                     int64_t rows);

}  // namespace csweep::sharding
