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
  // The csweep the compute nodes run; also asked for the plan (`BIN plan JOB --ranks N --json`).
  // Default: this executable.
  std::filesystem::path step_binary;
  std::string command_line;  // recorded in the script header
};

struct SubmitResult {
  std::string sweep_script, reduce_script;                      // the rendered scripts
  std::filesystem::path sweep_script_path, reduce_script_path;  // empty on dry run
  std::string sweep_job_id, reduce_job_id;                      // empty on dry run
  std::filesystem::path store;
};

SubmitResult submit(const SubmitOptions& options);

// scancel every job recorded in the store that Slurm still knows; returns the ids cancelled.
std::vector<std::string> cancel_store_jobs(const std::filesystem::path& store);

}  // namespace csweep::cluster
