// csweep submit JOB.yaml --cluster CLUSTER.yaml: writes the sbatch scripts into STORE/slurm/
// and submits them (sweep, then reduce afterok; with --chain-stages one sweep job per stage
// level, each afterok the previous). See cluster/submit.h and docs/cluster.md.
#include <iostream>

#include <nlohmann/json.hpp>

#include "apps/command.h"
#include "cluster/shell_quote.h"
#include "cluster/submit.h"

namespace {

struct SubmitArgs {
  std::string job, cluster, store, name, after, step_binary;
  int array = 0;
  bool dry_run = false, no_reduce = false, json = false, chain_stages = false;
};

std::string reproducible_command(const SubmitArgs& a) {
  using csweep::cluster::shell_quote;
  std::string c = "csweep submit " + shell_quote(a.job) + " --cluster " + shell_quote(a.cluster);
  if (!a.store.empty()) c += " --store " + shell_quote(a.store);
  if (!a.name.empty()) c += " --name " + shell_quote(a.name);
  if (a.array > 0) c += " --array " + std::to_string(a.array);
  if (!a.after.empty()) c += " --after " + shell_quote(a.after);
  if (a.no_reduce) c += " --no-reduce";
  if (a.chain_stages) c += " --chain-stages";
  if (!a.step_binary.empty()) c += " --step-binary " + shell_quote(a.step_binary);
  return c;
}

const csweep::apps::CommandRegistration submit_command{
    "submit", "write an sbatch script for a sweep and submit it (prints the job id)",
    [](CLI::App& sub) {
      auto a = std::make_shared<SubmitArgs>();
      sub.add_option("job", a->job, "job file (YAML)")->required();
      sub.add_option("--cluster", a->cluster, "cluster profile (YAML)")->required();
      sub.add_option("--store", a->store,
                     "store directory (default: the profile's store_root/<name>)");
      sub.add_option("--name", a->name, "Slurm job name (default: the job file's name)");
      sub.add_flag("--dry-run", a->dry_run, "print the scripts, submit nothing");
      sub.add_option("--array", a->array,
                     "split the plan's shards into N array tasks (task k: shards with id % N == k)")
          ->check(CLI::Range(1, 100000));
      sub.add_option("--after", a->after, "start only after job JOBID succeeded (afterok)");
      sub.add_flag("--no-reduce", a->no_reduce, "do not chain `csweep reduce` after the sweep");
      sub.add_flag("--chain-stages", a->chain_stages,
                   "one sweep job per stage level (csweep run --level K), each afterok the "
                   "previous; --array then splits every level");
      sub.add_option("--step-binary", a->step_binary,
                     "csweep executable the compute nodes run (default: this one)");
      sub.add_flag("--json", a->json, "print the job ids and paths as JSON");
      return [a]() {
        csweep::cluster::SubmitOptions o;
        o.job_file = a->job;
        o.cluster_file = a->cluster;
        if (!a->store.empty()) o.store = a->store;
        o.job_name = a->name;
        o.dry_run = a->dry_run;
        o.array_tasks = a->array;
        o.after = a->after;
        o.reduce = !a->no_reduce;
        o.chain_stages = a->chain_stages;
        o.step_binary = a->step_binary;
        o.command_line = reproducible_command(*a);
        const auto r = csweep::cluster::submit(o);
        if (a->json) {
          nlohmann::json j = {{"store", r.store.string()}, {"dry_run", a->dry_run}};
          nlohmann::json sweeps = nlohmann::json::array();
          for (const auto& job : r.sweeps) {
            nlohmann::json one = {{"level", job.level}, {"array_tasks", job.array_tasks}};
            if (a->dry_run)
              one["script"] = job.script;
            else
              one.update({{"job_id", job.job_id}, {"script_path", job.script_path.string()}});
            sweeps.push_back(one);
          }
          j["sweeps"] = sweeps;
          if (a->dry_run) {
            j["sweep_script"] = r.sweep_script;
            j["reduce_script"] = r.reduce_script;
          } else {
            j["sweep_job_id"] = r.sweep_job_id;
            j["reduce_job_id"] = r.reduce_job_id;
            j["sweep_script_path"] = r.sweep_script_path.string();
            j["reduce_script_path"] = r.reduce_script_path.string();
          }
          std::cout << j.dump(2) << "\n";
        } else if (a->dry_run) {
          for (const auto& job : r.sweeps) {
            if (job.level > 0)
              std::cout << "\n# ---- level " << job.level << " job (submitted afterok level "
                        << job.level - 1 << ") ----\n";
            std::cout << job.script;
          }
          if (!r.reduce_script.empty())
            std::cout << "\n# ---- reduce job (submitted afterok) ----\n" << r.reduce_script;
        } else {
          // The job id alone on stdout, so `id=$(csweep submit ...)` works (a chain's first
          // job); the rest on stderr.
          std::cout << r.sweep_job_id << "\n";
          for (const auto& job : r.sweeps) {
            std::cerr << (&job == &r.sweeps.front() ? "submitted " : ", ");
            if (job.level >= 0) std::cerr << "level " << job.level << " ";
            std::cerr << "sweep job " << job.job_id << " (" << job.script_path.string() << ")";
          }
          if (!r.reduce_job_id.empty())
            std::cerr << ", reduce job " << r.reduce_job_id << " afterok";
          std::cerr << "; store " << r.store.string() << "\n";
        }
        return 0;
      };
    }};

}  // namespace
