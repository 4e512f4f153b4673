#include "sharding/plan.h"

#include <algorithm>
#include <numeric>
#include <tuple>

#include "common/error.h"
#include "common/human_bytes.h"
#include "common/log.h"
#include "sharding/cost_model.h"
#include "sharding/grid.h"

namespace csweep::sharding {
namespace {

// Whole-prompt work shared by every shard of one (analysis, prompt): the clean and corrupted
// caches for per-cell analyses, or the analysis's own passes for one-pass analyses.
double per_prompt_flops(const AnalysisGrid& g, const model::ModelConfig& c, int64_t tokens) {
  const jobs::KindCost& k = g.cost;
  double flops = k.prompt_forwards * forward_flops(c, tokens, 0, 1);
  if (k.prompt_batch_rows > 0) flops += forward_flops(c, tokens, 0, k.prompt_batch_rows);
  return flops + k.prompt_other_flops;
}

uint64_t one_pass_memory(const AnalysisGrid& g, const model::ModelConfig& c, int64_t tokens,
                         int64_t bytes) {
  switch (g.cost.pass_memory) {
    case jobs::PassMemory::Backward:  // the backward keeps every layer's activations
      return 2 * static_cast<uint64_t>(c.n_layers) * row_bytes(c, tokens, bytes);
    case jobs::PassMemory::WeightsOnly:
      return 0;
    case jobs::PassMemory::RowAndCache:
      break;
  }
  return row_bytes(c, tokens, bytes) + run_cache_bytes(c, tokens, bytes);
}

}  // namespace

int64_t Plan::total_cells() const {
  int64_t n = 0;
  for (const auto& s : shards) n += s.cells();
  return n;
}

double Plan::total_flops() const {
  double f = 0;
  for (const auto& s : shards) f += s.flops;
  return f;
}

uint64_t Plan::total_result_bytes() const {
  uint64_t b = 0;
  for (const auto& s : shards) b += s.result_bytes;
  return b;
}

Plan make_plan(const jobs::JobSpec& spec, const model::ModelConfig& c) {
  Plan plan;
  const int64_t bytes = dtype_bytes(spec.model.dtype);
  const uint64_t budget = spec.sharding.memory_budget_bytes;
  plan.weight_bytes = weight_bytes(c, bytes);
  std::vector<Shard> shards;
  for (uint32_t ai = 0; ai < spec.analyses.size(); ++ai) {
    AnalysisGrid g = make_grid(spec.analyses[ai], ai, c);
    const int64_t cells = g.cells();
    // A whole-prompt-set kind's shards are its first prompt's: they cover every prompt at once,
    // so they cost every prompt's work and the longest prompt's memory.
    const bool whole_set = g.kind->whole_prompt_set;
    for (uint32_t pi = 0; pi < (whole_set ? 1u : spec.prompts.size()) && cells > 0; ++pi) {
      int64_t tokens = spec.prompts[pi].n_tokens();
      double shared = per_prompt_flops(g, c, tokens);
      if (whole_set) {
        shared = 0.0;
        for (const auto& p : spec.prompts) {
          tokens = std::max(tokens, p.n_tokens());
          shared += per_prompt_flops(g, c, p.n_tokens());
        }
      }
      std::vector<Shard> group;
      if (!g.cost.per_cell_forward) {
        uint64_t memory = one_pass_memory(g, c, tokens, bytes);
        if (budget && memory > budget)
          throw error_at(spec.file.string(), "sharding.memory_budget",
                         human_bytes(budget) + " cannot hold analysis \"" + g.name +
                             "\" on prompt \"" + spec.prompts[pi].id + "\" (one pass needs " +
                             human_bytes(memory) + ")");
        Shard s;
        s.cell_begin = 0;
        s.cell_end = cells;
        s.memory_bytes = memory;
        group.push_back(s);
      } else {
        const uint64_t cache = 2 * run_cache_bytes(c, tokens, bytes);
        const uint64_t row = row_bytes(c, tokens, bytes);
        int64_t max_rows = std::max(spec.sharding.batch_size, g.cost.rows_per_cell);
        if (budget) {
          int64_t fit = budget > cache ? static_cast<int64_t>((budget - cache) / row) : 0;
          if (fit < g.cost.rows_per_cell)
            throw error_at(spec.file.string(), "sharding.memory_budget",
                           human_bytes(budget) + " cannot hold analysis \"" + g.name +
                               "\" on prompt \"" + spec.prompts[pi].id + "\" (caches " +
                               human_bytes(cache) + " + " + std::to_string(g.cost.rows_per_cell) +
                               " row(s) of " + human_bytes(row) + ")");
          max_rows = std::min(max_rows, fit);
        }
        const int64_t max_cells = std::max<int64_t>(1, max_rows / g.cost.rows_per_cell);
        // Consecutive cells that restart at the same layer share one suffix recomputation.
        for (int64_t cell = 0; cell < cells; ++cell) {
          int64_t start = g.start_layer(cell);
          if (group.empty() || group.back().start_layer != start ||
              group.back().cells() >= max_cells) {
            Shard s;
            s.cell_begin = cell;
            s.cell_end = cell;
            s.start_layer = start;
            group.push_back(s);
          }
          group.back().cell_end = cell + 1;
        }
        for (auto& s : group) {
          int64_t rows = s.cells() * g.cost.rows_per_cell;
          s.flops = forward_flops(c, tokens, s.start_layer, rows);
          s.memory_bytes = cache + static_cast<uint64_t>(rows) * row;
          plan.batch_size = std::max(plan.batch_size, rows);
        }
      }
      for (auto& s : group) {
        s.analysis = ai;
        s.prompt = pi;
        s.flops += shared / static_cast<double>(group.size());
        s.result_bytes = static_cast<uint64_t>(s.cells()) * sizeof(float);
        plan.max_shard_memory_bytes = std::max(plan.max_shard_memory_bytes, s.memory_bytes);
        shards.push_back(s);
      }
    }
    plan.grids.push_back(std::move(g));
  }
  if (plan.batch_size == 0) plan.batch_size = 1;
  std::stable_sort(shards.begin(), shards.end(), [](const Shard& a, const Shard& b) {
    if (a.flops != b.flops) return a.flops > b.flops;
    return std::tie(a.analysis, a.prompt, a.cell_begin) <
           std::tie(b.analysis, b.prompt, b.cell_begin);
  });
  for (uint32_t i = 0; i < shards.size(); ++i) shards[i].id = i;
  plan.shards = std::move(shards);
  log::get("sharding")
      ->info("{}: {} shards, {:.3g} GFLOP", spec.file.string(), plan.shards.size(),
             plan.total_flops() / 1e9);
  return plan;
}

int RankLayout::group_of(int rank) const {
  for (size_t g = 0; g < groups.size(); ++g)
    for (int r : groups[g])
      if (r == rank) return static_cast<int>(g);
  return -1;
}

RankLayout layout_ranks(const Plan& plan, int n_ranks, int tensor_parallel) {
  (void)plan;
  if (n_ranks < 1) throw Error("--ranks: must be at least 1, got " + std::to_string(n_ranks));
  if (tensor_parallel < 1) throw Error("tensor_parallel: must be at least 1");
  RankLayout layout;
  layout.n_ranks = n_ranks;
  layout.tensor_parallel = tensor_parallel;
  if (n_ranks == 1) {
    if (tensor_parallel != 1)
      throw Error("--ranks 1: tensor_parallel " + std::to_string(tensor_parallel) +
                  " needs a coordinator rank plus a multiple of " +
                  std::to_string(tensor_parallel) + " worker ranks");
    layout.groups = {{0}};  // one process: the coordinator does the work itself
    return layout;
  }
  int workers = n_ranks - 1;
  if (workers % tensor_parallel != 0)
    throw Error("--ranks " + std::to_string(n_ranks) + ": the " + std::to_string(workers) +
                " worker ranks (all but rank 0) are not a multiple of tensor_parallel " +
                std::to_string(tensor_parallel) + "; use --ranks " +
                std::to_string(1 + (workers / tensor_parallel + 1) * tensor_parallel));
  for (int first = 1; first < n_ranks; first += tensor_parallel) {
    std::vector<int> group(tensor_parallel);
    std::iota(group.begin(), group.end(), first);
    layout.groups.push_back(group);
  }
  return layout;
}

double estimate_seconds(const Plan& plan, const RankLayout& layout, double gflops_per_group) {
  std::vector<double> load(std::max<size_t>(1, layout.groups.size()), 0.0);
  for (const auto& s : plan.shards) {  // already costliest first: the greedy LPT schedule
    auto least = std::min_element(load.begin(), load.end());
    *least += s.flops;
  }
  return *std::max_element(load.begin(), load.end()) / (gflops_per_group * 1e9);
}

}  // namespace csweep::sharding
