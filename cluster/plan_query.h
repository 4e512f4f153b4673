#pragma once
// What `csweep submit` needs from `csweep plan JOB --ranks N --json`: how many ranks the
// plan uses, its tensor-parallel size and its shard count. The plan is asked from the same
// binary the nodes will run, so the script and the sweep always agree on the layout.
#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace csweep::cluster {

struct PlanSummary {
  int ranks = 1;  // ranks the layout uses (<= the ranks offered)
  int tensor_parallel = 1;
  long long shards = 0;
  std::string job_hash;  // canonical hash, when the plan reports it
  // Stage levels (`totals.stage_levels`, 1 without stages) and per level the shards of its
  // analyses (`analyses[].level`, `analyses[].shards`); empty when the plan has no analyses.
  int stage_levels = 1;
  std::vector<long long> level_shards;
};

// Reads the fields from plan JSON (accepts "ranks"/"n_ranks", "tensor_parallel"/"tp",
// "shards" as a count or an array, also nested under "layout", "ranks" or "totals" as
// `csweep plan --json` writes them). `where` names the source.
PlanSummary plan_summary_from_json(const nlohmann::json& plan, int ranks_offered,
                                   const std::string& where);

// Runs `BINARY plan JOB --ranks N --json` and parses it. Throws csweep::Error on failure.
PlanSummary query_plan(const std::filesystem::path& binary, const std::filesystem::path& job_file,
                       int ranks_offered);

}  // namespace csweep::cluster
