#include "store/run_scope.h"

#include <cstdlib>
#include <regex>

#include "common/error.h"

namespace csweep::store {

std::string Slice::text() const {
  return active() ? std::to_string(index) + "/" + std::to_string(count) : "";
}

std::string Slice::tag() const {
  return active() ? "s" + std::to_string(index) + "of" + std::to_string(count) : "";
}

Slice parse_slice(const std::string& text) {
  static const std::regex re("([0-9]{1,9})/([0-9]{1,9})");
  std::smatch m;
  if (!std::regex_match(text, m, re))
    throw error_at(
        "--slice", "",
        "expected k/N (this run computes the shards with id % N == k), got '" + text + "'");
  Slice s{std::stoi(m[1]), std::stoi(m[2])};
  if (s.count < 1) throw error_at("--slice", "", "N must be at least 1, got '" + text + "'");
  if (s.index >= s.count) throw error_at("--slice", "", "k must be in 0..N-1, got '" + text + "'");
  return s;
}

Slice slice_of_name(const std::string& name) {
  static const std::regex re("(?:status-)?s([0-9]{1,9})of([0-9]{1,9})([-.].*)?");
  std::smatch m;
  if (!std::regex_match(name, m, re)) return {};
  Slice s{std::stoi(m[1]), std::stoi(m[2])};
  if (s.count < 1 || s.index >= s.count) return {};
  return s;
}

std::string SlurmIds::tag() const {
  if (!array_job_id.empty() && !array_task_id.empty())
    return "slurm" + array_job_id + "_" + array_task_id;
  if (!job_id.empty()) return "slurm" + job_id;
  return "";
}

nlohmann::json SlurmIds::to_json() const {
  nlohmann::json j = nlohmann::json::object();
  if (!job_id.empty()) j["job_id"] = job_id;
  if (!array_job_id.empty()) j["array_job_id"] = array_job_id;
  if (!array_task_id.empty()) j["array_task_id"] = array_task_id;
  return j;
}

SlurmIds SlurmIds::from_env() {
  // Only digits reach file names: an id is never a path component in disguise.
  auto get = [](const char* name) {
    const char* v = std::getenv(name);
    std::string s = v ? v : "";
    for (char c : s)
      if (c < '0' || c > '9') return std::string();
    return s;
  };
  return {get("SLURM_JOB_ID"), get("SLURM_ARRAY_JOB_ID"), get("SLURM_ARRAY_TASK_ID")};
}

}  // namespace csweep::store
