#include "cluster/status.h"

#include <iomanip>
#include <map>
#include <sstream>

#include "cluster/job_record.h"
#include "cluster/slurm_cli.h"

namespace csweep::cluster {
namespace {

std::string one_line(std::string s) {
  for (char& c : s)
    if (c == '\n' || c == '\r') c = ' ';
  while (!s.empty() && s.back() == ' ') s.pop_back();
  return s;
}

// job_state is a string in Slurm 22.05 and a list of flags from 23.02 on.
std::string state_text(const nlohmann::json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_array()) {
    std::string out;
    for (const auto& s : v)
      if (s.is_string()) out += (out.empty() ? "" : ",") + s.get<std::string>();
    return out;
  }
  return "UNKNOWN";
}

// exit_code: a raw wait status (22.05) or {status, return_code, signal} (23.02+).
std::string exit_text(const nlohmann::json& v) {
  if (v.is_number_integer()) {
    int raw = v.get<int>();
    return std::to_string((raw >> 8) & 0xff) + ":" + std::to_string(raw & 0x7f);
  }
  if (v.is_object()) {
    auto number = [](const nlohmann::json& x) -> std::string {
      if (x.is_number_integer()) return std::to_string(x.get<long long>());
      if (x.is_object() && x.contains("number"))
        return std::to_string(x["number"].get<long long>());
      return "0";
    };
    std::string code = v.contains("return_code") ? number(v["return_code"]) : "0";
    std::string sig = "0";
    if (v.contains("signal") && v["signal"].is_object() && v["signal"].contains("id"))
      sig = number(v["signal"]["id"]);
    return code + ":" + sig;
  }
  return "";
}

long long integer(const nlohmann::json& j, const char* key) {
  if (!j.contains(key)) return -1;
  const auto& v = j[key];
  if (v.is_number_integer()) return v.get<long long>();
  if (v.is_object() && v.value("set", false) && v.contains("number"))
    return v["number"].get<long long>();
  return -1;
}

SlurmJobStatus from_squeue(const nlohmann::json& j, const std::string& role) {
  SlurmJobStatus s;
  s.role = role;
  long long array_job = integer(j, "array_job_id");
  long long task = integer(j, "array_task_id");
  if (array_job > 0) {
    std::string tasks = j.value("array_task_string", "");
    s.job_id =
        std::to_string(array_job) + "_" + (task >= 0 ? std::to_string(task) : "[" + tasks + "]");
  } else {
    s.job_id = std::to_string(integer(j, "job_id"));
  }
  s.state = j.contains("job_state") ? state_text(j["job_state"]) : "UNKNOWN";
  s.reason = j.value("state_reason", "");
  if (s.reason == "None") s.reason.clear();
  if (j.contains("exit_code") && s.state != "PENDING" && s.state != "RUNNING")
    s.exit_code = exit_text(j["exit_code"]);
  s.restart_count = static_cast<int>(std::max(0LL, integer(j, "restart_cnt")));
  s.nodes = j.value("nodes", "");
  return s;
}

// `scontrol show job -o ID`: one line of Key=Value per job (per array task).
std::vector<SlurmJobStatus> from_scontrol(const std::string& job_id, const std::string& role) {
  std::vector<SlurmJobStatus> out;
  CommandResult r = run_command({"scontrol", "show", "job", "-o", job_id});
  if (r.exit_code != 0) {
    SlurmJobStatus s;
    s.job_id = job_id;
    s.role = role;
    s.state = "UNKNOWN";
    s.reason = one_line(r.err.empty() ? "scontrol failed" : r.err);
    out.push_back(s);
    return out;
  }
  std::istringstream lines(r.out);
  std::string line;
  while (std::getline(lines, line)) {
    if (line.empty()) continue;
    std::map<std::string, std::string> kv;
    std::istringstream words(line);
    std::string word;
    while (words >> word)
      if (auto eq = word.find('='); eq != std::string::npos)
        kv.emplace(word.substr(0, eq), word.substr(eq + 1));
    SlurmJobStatus s;
    s.role = role;
    s.job_id = kv.count("ArrayJobId") ? kv["ArrayJobId"] + "_" + kv["ArrayTaskId"] : kv["JobId"];
    s.state = kv.count("JobState") ? kv["JobState"] : "UNKNOWN";
    s.reason = kv["Reason"] == "None" ? "" : kv["Reason"];
    if (s.state != "PENDING" && s.state != "RUNNING") s.exit_code = kv["ExitCode"];
    s.restart_count = kv.count("Restarts") ? std::stoi(kv["Restarts"]) : 0;
    s.nodes = kv["NodeList"] == "(null)" ? "" : kv["NodeList"];
    out.push_back(s);
  }
  return out;
}

}  // namespace

std::vector<SlurmJobStatus> slurm_jobs_status(const std::filesystem::path& store) {
  std::vector<SlurmJobStatus> out;
  const std::vector<JobRecord> records = read_job_records(store);
  if (records.empty()) return out;

  nlohmann::json queue;
  std::string queue_error;
  CommandResult r = run_command({"squeue", "--json"});
  if (r.exit_code == 0) {
    queue = nlohmann::json::parse(r.out, nullptr, false);
    if (queue.is_discarded() || !queue.contains("jobs"))
      queue_error = "squeue --json: unexpected output";
  } else {
    queue_error = one_line("squeue: " +
                           (r.err.empty() ? "exit status " + std::to_string(r.exit_code) : r.err));
  }

  for (const auto& record : records) {
    const long long id = std::stoll(record.job_id);
    std::vector<SlurmJobStatus> found;
    if (queue_error.empty()) {
      for (const auto& j : queue["jobs"]) {
        const bool match = record.array_tasks > 0
                               ? integer(j, "array_job_id") == id || integer(j, "job_id") == id
                               : integer(j, "job_id") == id;
        if (match) found.push_back(from_squeue(j, record.role));
      }
    }
    if (found.empty()) found = from_scontrol(record.job_id, record.role);
    if (!queue_error.empty())
      for (auto& s : found)
        if (s.state == "UNKNOWN") s.reason = queue_error + "; " + s.reason;
    out.insert(out.end(), found.begin(), found.end());
  }
  return out;
}

nlohmann::json to_json(const std::vector<SlurmJobStatus>& jobs) {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& s : jobs)
    out.push_back({{"job_id", s.job_id},
                   {"role", s.role},
                   {"state", s.state},
                   {"reason", s.reason},
                   {"exit_code", s.exit_code},
                   {"restart_count", s.restart_count},
                   {"nodes", s.nodes}});
  return out;
}

std::string format_status_table(const std::vector<SlurmJobStatus>& jobs) {
  std::ostringstream s;
  // ROLE: sweep, sweep-L<K> (a chained stage level), reduce.
  s << std::left << std::setw(14) << "JOBID" << std::setw(10) << "ROLE" << std::setw(12) << "STATE"
    << std::setw(9) << "RESTARTS" << std::setw(7) << "EXIT" << std::setw(12) << "NODES"
    << "REASON\n";
  for (const auto& j : jobs)
    s << std::left << std::setw(14) << j.job_id << std::setw(10) << j.role << std::setw(12)
      << j.state << std::setw(9) << j.restart_count << std::setw(7) << j.exit_code << std::setw(12)
      << j.nodes << j.reason << "\n";
  return s.str();
}

}  // namespace csweep::cluster
