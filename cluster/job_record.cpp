#include "cluster/job_record.h"

#include <fstream>

#include "cluster/sbatch_script.h"
#include "common/error.h"

namespace csweep::cluster {

nlohmann::json to_json(const JobRecord& r) {
  return {{"job_id", r.job_id},
          {"role", r.role},
          {"script", r.script},
          {"array_tasks", r.array_tasks},
          {"depends_on", r.depends_on},
          {"cluster_file", r.cluster_file},
          {"submitted_at", r.submitted_at}};
}

JobRecord job_record_from_json(const nlohmann::json& j, const std::string& where) {
  if (!j.is_object() || !j.contains("job_id") || !j["job_id"].is_string() || !j.contains("role"))
    throw Error(where + ": not a job record (needs job_id and role)");
  JobRecord r;
  r.job_id = j["job_id"].get<std::string>();
  r.role = j["role"].get<std::string>();
  r.script = j.value("script", "");
  r.array_tasks = j.value("array_tasks", 0);
  r.depends_on = j.value("depends_on", "");
  r.cluster_file = j.value("cluster_file", "");
  r.submitted_at = j.value("submitted_at", "");
  return r;
}

std::filesystem::path job_records_path(const std::filesystem::path& store) {
  return slurm_dir(store) / "jobs.jsonl";
}

void append_job_record(const std::filesystem::path& store, const JobRecord& record) {
  std::filesystem::create_directories(slurm_dir(store));
  const auto path = job_records_path(store);
  std::ofstream out(path, std::ios::app);
  out << to_json(record).dump() << "\n";
  out.flush();
  if (!out) throw error_at(path.string(), "", "cannot append the job record");
}

std::vector<JobRecord> read_job_records(const std::filesystem::path& store) {
  std::vector<JobRecord> records;
  const auto path = job_records_path(store);
  std::ifstream in(path);
  if (!in) return records;
  std::string line;
  for (int number = 1; std::getline(in, line); ++number) {
    if (line.empty()) continue;
    const std::string where = path.string() + ":" + std::to_string(number);
    nlohmann::json j = nlohmann::json::parse(line, nullptr, false);
    if (j.is_discarded()) throw Error(where + ": not valid JSON");
    records.push_back(job_record_from_json(j, where));
  }
  return records;
}

}  // namespace csweep::cluster
