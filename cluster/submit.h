#pragma once
// `csweep submit` and `csweep cancel` as library calls (apps/ only parses flags).
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace csweep::cluster {

struct SubmitOptions {
  std::filesystem::path job_file;
  std::filesystem::path cluster_file;
  std::optional<std::filesystem::path> store;  // default: profile store_root/<job name>
  std::string job_name;                        // default: the job file's stem
  bool dry_run = false;
  int array_tasks = 0;  // 0 = one MPI world for the whole plan
  std::string after;    // --after JOBID
  bool reduce = true;   // chain `csweep reduce` afterok
  // One job per stage level (`csweep run --level K`), each afterok the previous; reduce afterok
  // the last. array_tasks then applies to every level (capped at the level's shards).
  bool chain_stages = false;
  // The csweep the compute nodes run; also asked for the plan (`BIN plan JOB --ranks N --json`).
  // Default: this executable.
  std::filesystem::path step_binary;
  std::string command_line;  // recorded in the script header
};

// One sweep job: the whole plan, or one stage level of a chain.
struct SweepJob {
  int level = -1;  // -1: the whole plan
  int array_tasks = 0;
  std::string script;
  std::filesystem::path script_path;  // empty on dry run
  std::string job_id;                 // empty on dry run
};

struct SubmitResult {
  // sweep_*: the first (or only) sweep job; sweeps: every sweep job in submission order.
  std::string sweep_script, reduce_script;                      // the rendered scripts
  std::filesystem::path sweep_script_path, reduce_script_path;  // empty on dry run
  std::string sweep_job_id, reduce_job_id;                      // empty on dry run
  std::vector<SweepJob> sweeps;
  std::filesystem::path store;
};

SubmitResult submit(const SubmitOptions& options);

// scancel every job recorded in the store that Slurm still knows; returns the ids cancelled.
std::vector<std::string> cancel_store_jobs(const std::filesystem::path& store);

}  // namespace csweep::cluster
