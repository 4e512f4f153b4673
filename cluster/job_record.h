#pragma once
// The store remembers every Slurm job submitted for it: STORE/slurm/jobs.jsonl, one JSON
// object per line, appended by `csweep submit`, read by `csweep status` and `csweep cancel`.
#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace csweep::cluster {

struct JobRecord {
  std::string job_id;  // for an array: the array job id (tasks are ID_0 .. ID_{N-1})
  std::string role;    // "sweep" | "sweep-L<K>" (stage level K of a chain) | "reduce"
  std::string script;  // absolute path of the submitted script
  int array_tasks = 0;
  std::string depends_on;    // job id this one waits for (afterok), may be empty
  std::string cluster_file;  // the profile used
  std::string submitted_at;  // UTC, ISO 8601
};

nlohmann::json to_json(const JobRecord& record);
JobRecord job_record_from_json(const nlohmann::json& j, const std::string& where);

std::filesystem::path job_records_path(const std::filesystem::path& store);
void append_job_record(const std::filesystem::path& store, const JobRecord& record);
// Empty when the store has no Slurm jobs; throws csweep::Error "FILE:LINE: reason" on a bad line.
std::vector<JobRecord> read_job_records(const std::filesystem::path& store);

}  // namespace csweep::cluster
