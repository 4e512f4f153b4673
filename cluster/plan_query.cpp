#include "cluster/plan_query.h"

#include "cluster/slurm_cli.h"
#include "common/error.h"

namespace csweep::cluster {
namespace {

// The first of `keys` present as an integer in `j` or in j["layout"]; -1 if none.
long long find_integer(const nlohmann::json& j, std::initializer_list<const char*> keys) {
  // `csweep plan --json` nests them: {"ranks": {"n_ranks", "tensor_parallel"}, "totals":
  // {"shards"}}.
  auto nested = [&](const char* key) { return j.contains(key) ? &j[key] : nullptr; };
  for (const nlohmann::json* scope : {&j, nested("layout"), nested("ranks"), nested("totals")}) {
    if (scope == nullptr || !scope->is_object()) continue;
    for (const char* key : keys) {
      if (!scope->contains(key)) continue;
      const auto& v = (*scope)[key];
      if (v.is_number_integer()) return v.get<long long>();
      if (v.is_array()) return static_cast<long long>(v.size());
    }
  }
  return -1;
}

}  // namespace

PlanSummary plan_summary_from_json(const nlohmann::json& plan, int ranks_offered,
                                   const std::string& where) {
  if (!plan.is_object()) throw Error(where + ": plan output is not a JSON object");
  PlanSummary s;
  long long ranks = find_integer(plan, {"ranks", "n_ranks"});
  long long tp = find_integer(plan, {"tensor_parallel", "tp"});
  long long shards = find_integer(plan, {"shards", "n_shards", "shard_count"});
  if (shards < 0) throw Error(where + ": plan output has no shard count (\"shards\")");
  s.ranks = ranks > 0 ? static_cast<int>(ranks) : ranks_offered;
  s.tensor_parallel = tp > 0 ? static_cast<int>(tp) : 1;
  s.shards = shards;
  if (s.ranks > ranks_offered)
    throw Error(where + ": plan uses " + std::to_string(s.ranks) +
                " ranks but the profile offers " + std::to_string(ranks_offered));
  const long long levels = find_integer(plan, {"stage_levels"});
  s.stage_levels = levels > 0 ? static_cast<int>(levels) : 1;
  if (plan.contains("analyses") && plan["analyses"].is_array()) {
    s.level_shards.assign(static_cast<size_t>(s.stage_levels), 0);
    for (const auto& a : plan["analyses"]) {
      const long long level = a.value("level", 0LL);
      if (level < 0 || level >= s.stage_levels)
        throw Error(where + ": analysis level " + std::to_string(level) + " outside 0.." +
                    std::to_string(s.stage_levels - 1));
      s.level_shards[static_cast<size_t>(level)] += a.value("shards", 0LL);
    }
  }
  for (const char* key : {"job_hash", "spec_hash", "hash"})
    if (plan.contains(key) && plan[key].is_string()) {
      s.job_hash = plan[key].get<std::string>();
      break;
    }
  return s;
}

PlanSummary query_plan(const std::filesystem::path& binary, const std::filesystem::path& job_file,
                       int ranks_offered) {
  CommandResult r = run_command({binary.string(), "plan", job_file.string(), "--ranks",
                                 std::to_string(ranks_offered), "--json"});
  if (r.exit_code != 0) {
    std::string reason = r.err.empty() ? r.out : r.err;
    while (!reason.empty() && reason.back() == '\n') reason.pop_back();
    // csweep prints "csweep: FILE:LINE:COL: reason" for a bad job: pass it through as is.
    if (reason.rfind("csweep: ", 0) == 0) reason = reason.substr(8);
    throw Error(reason.empty() ? job_file.string() + ": `csweep plan` failed with status " +
                                     std::to_string(r.exit_code)
                               : reason);
  }
  nlohmann::json plan = nlohmann::json::parse(r.out, nullptr, false);
  if (plan.is_discarded())
    throw Error(job_file.string() + ": `csweep plan --json` printed something that is not JSON");
  return plan_summary_from_json(plan, ranks_offered, "csweep plan " + job_file.string());
}

}  // namespace csweep::cluster
