#pragma once
// The Slurm side of `csweep status STORE`: the live state of every job recorded in the store
// (STORE/slurm/jobs.jsonl), from `squeue --json` and, for jobs squeue no longer lists,
// `scontrol show job -o`. Array jobs are expanded into one entry per task.
#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace csweep::cluster {

struct SlurmJobStatus {
  std::string job_id;     // as Slurm prints it: "123", or "123_4" for an array task
  std::string role;       // "sweep" | "reduce" (from the store's record)
  std::string state;      // PENDING, RUNNING, COMPLETED, FAILED, CANCELLED, ... ; "UNKNOWN"
                          // when Slurm has forgotten the job (older than MinJobAge)
  std::string reason;     // pending reason, e.g. "Dependency", "BeginTime"; may be empty
  std::string exit_code;  // "0:0" style when finished; may be empty
  int restart_count = 0;  // requeues so far
  std::string nodes;      // node list when running
};

// Never throws because Slurm is unreachable: such jobs are reported as UNKNOWN with the
// reason. Throws csweep::Error only for a corrupt jobs.jsonl.
std::vector<SlurmJobStatus> slurm_jobs_status(const std::filesystem::path& store);

nlohmann::json to_json(const std::vector<SlurmJobStatus>& jobs);
std::string format_status_table(const std::vector<SlurmJobStatus>& jobs);  // for humans

}  // namespace csweep::cluster
