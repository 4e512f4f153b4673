#include "cluster/submit.h"

#include <algorithm>
#include <fstream>
#include <set>

#include "cluster/job_record.h"
#include "cluster/plan_query.h"
#include "cluster/profile.h"
#include "cluster/rank_placement.h"
#include "cluster/sbatch_script.h"
#include "cluster/slurm_cli.h"
#include "cluster/status.h"
#include "common/error.h"
#include "common/log.h"
#include "common/utc_time.h"

namespace csweep::cluster {
namespace fs = std::filesystem;
namespace {

void write_script(const fs::path& path, const std::string& text) {
  const fs::path temp = path.string() + ".tmp";
  {
    std::ofstream out(temp, std::ios::binary | std::ios::trunc);
    out << text;
    if (!out.flush()) throw error_at(temp.string(), "", "cannot write the batch script");
  }
  fs::permissions(temp, fs::perms::owner_exec | fs::perms::group_exec | fs::perms::others_exec,
                  fs::perm_options::add);
  fs::rename(temp, path);
}

bool valid_job_id(const std::string& id) {
  // "123" or an array task "123_4"; anything else would be a dependency injection.
  if (id.empty()) return false;
  size_t underscore = id.find('_');
  auto digits = [](const std::string& s) {
    return !s.empty() && s.find_first_not_of("0123456789") == std::string::npos;
  };
  if (underscore == std::string::npos) return digits(id);
  return digits(id.substr(0, underscore)) && digits(id.substr(underscore + 1));
}

}  // namespace

SubmitResult submit(const SubmitOptions& o) {
  auto logger = log::get("cluster");
  if (!fs::is_regular_file(o.job_file)) throw error_at(o.job_file.string(), "", "no such job file");
  ClusterProfile profile = load_cluster_profile(o.cluster_file);
  if (o.array_tasks < 0) throw Error("--array: must be >= 1");
  if (!o.after.empty() && !valid_job_id(o.after))
    throw Error("--after: '" + o.after + "' is not a Slurm job id (digits, or ARRAYID_TASK)");

  ScriptRequest r;
  r.profile = profile;
  r.profile.file = fs::absolute(o.cluster_file).lexically_normal().string();
  r.job_file = fs::absolute(o.job_file).lexically_normal();
  r.job_name = o.job_name.empty() ? o.job_file.stem().string() : o.job_name;
  if (o.store) {
    r.store = fs::absolute(*o.store).lexically_normal();
  } else if (!profile.store_root.empty()) {
    r.store = (fs::absolute(profile.store_root) / r.job_name).lexically_normal();
  } else {
    throw Error(o.cluster_file.string() + ": store_root: not set, so --store is required");
  }
  r.step_binary =
      o.step_binary.empty() ? fs::read_symlink("/proc/self/exe") : fs::absolute(o.step_binary);
  r.array_tasks = o.array_tasks > 1 ? o.array_tasks : 0;
  r.after = o.after;
  r.command_line = o.command_line;

  const PlanSummary plan = query_plan(r.step_binary, r.job_file, ranks_to_offer(profile));
  if (r.array_tasks > plan.shards)
    throw Error("--array: " + std::to_string(r.array_tasks) + " tasks but the plan has only " +
                std::to_string(plan.shards) + " shards");
  if (r.array_tasks > 0 && plan.stage_levels > 1 && !o.chain_stages)
    throw Error("--array: " + o.job_file.string() +
                " has stages (from:), whose cells one coordinator chooses from every source "
                "shard; add --chain-stages (one job per stage level, each an array)");
  r.placement = place_ranks(profile, plan.ranks);
  r.tensor_parallel = plan.tensor_parallel;
  r.shards = plan.shards;
  r.levels = plan.stage_levels;
  logger->info("plan: {} shards, tp {}, {} ranks on {} nodes, {} stage level(s)", plan.shards,
               plan.tensor_parallel, r.placement.ranks, r.placement.nodes, plan.stage_levels);

  SubmitResult result;
  result.store = r.store;
  const fs::path dir = slurm_dir(r.store);
  if (!o.dry_run) fs::create_directories(dir / "logs");
  const int levels = o.chain_stages ? plan.stage_levels : 1;
  std::string previous = o.after;
  for (int level = 0; level < levels; ++level) {
    ScriptRequest job = r;
    job.after = previous;
    if (o.chain_stages) {
      job.level = level;
      // A level with fewer shards than tasks gets one task per shard.
      const long long shards = static_cast<size_t>(level) < plan.level_shards.size()
                                   ? plan.level_shards[static_cast<size_t>(level)]
                                   : plan.shards;
      job.level_shards = shards;
      job.array_tasks = static_cast<int>(std::min<long long>(r.array_tasks, shards));
      if (job.array_tasks == 1) job.array_tasks = 0;
    }
    SweepJob sweep{job.level, job.array_tasks, render_sweep_script(job), {}, {}};
    if (!o.dry_run) {
      sweep.script_path =
          dir / (o.chain_stages ? "sweep-L" + std::to_string(level) + ".sbatch" : "sweep.sbatch");
      write_script(sweep.script_path, sweep.script);
      sweep.job_id = sbatch_submit({}, sweep.script_path.string());
      append_job_record(
          r.store,
          {sweep.job_id, o.chain_stages ? "sweep-L" + std::to_string(level) : "sweep",
           sweep.script_path.string(), job.array_tasks, job.after, r.profile.file, utc_now()});
      previous = sweep.job_id;
    } else {
      previous = "<LEVEL_" + std::to_string(level) + "_JOB_ID>";
    }
    result.sweeps.push_back(std::move(sweep));
  }
  result.sweep_script = result.sweeps.front().script;
  result.sweep_script_path = result.sweeps.front().script_path;
  result.sweep_job_id = result.sweeps.front().job_id;
  if (!o.reduce) return result;
  const std::string last = o.dry_run && !o.chain_stages ? "<SWEEP_JOB_ID>" : previous;
  result.reduce_script = render_reduce_script(r, last);
  if (o.dry_run) return result;
  result.reduce_script_path = dir / "reduce.sbatch";
  write_script(result.reduce_script_path, result.reduce_script);
  result.reduce_job_id = sbatch_submit({}, result.reduce_script_path.string());
  append_job_record(r.store, {result.reduce_job_id, "reduce", result.reduce_script_path.string(), 0,
                              last, r.profile.file, utc_now()});
  return result;
}

std::vector<std::string> cancel_store_jobs(const fs::path& store) {
  std::vector<std::string> ids;
  std::set<std::string> seen;
  const std::set<std::string> finished = {"COMPLETED",     "FAILED",    "CANCELLED", "TIMEOUT",
                                          "OUT_OF_MEMORY", "NODE_FAIL", "BOOT_FAIL", "DEADLINE",
                                          "PREEMPTED",     "UNKNOWN"};
  for (const auto& job : slurm_jobs_status(store)) {
    if (finished.count(job.state)) continue;
    // An array task "123_4" is cancelled through its array job "123" (all tasks at once).
    std::string id = job.job_id.substr(0, job.job_id.find('_'));
    if (seen.insert(id).second) ids.push_back(id);
  }
  scancel(ids);
  return ids;
}

}  // namespace csweep::cluster
