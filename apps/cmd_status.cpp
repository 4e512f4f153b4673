// csweep status STORE [--json]: progress of a running or finished sweep, read-only (safe
// beside a live run: no locks taken, HDF5 file locking off, damaged fragments skipped).
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <iostream>
#include <sstream>

#include "apps/command.h"
#include "cluster/status.h"
#include "store/reader.h"
#include "store/run_scope.h"
#include "store/store.h"

namespace {

int64_t count_lines(const std::filesystem::path& p) {
  std::ifstream in(p);
  int64_t n = 0;
  std::string line;
  while (std::getline(in, line))
    if (!line.empty()) ++n;
  return n;
}

// Seconds since an ISO-8601 UTC "updated" stamp, or -1.
double age_s(const nlohmann::json& status) {
  if (!status.contains("updated") || !status["updated"].is_string()) return -1;
  std::tm tm{};
  if (!strptime(status["updated"].get<std::string>().c_str(), "%Y-%m-%dT%H:%M:%SZ", &tm)) return -1;
  return std::difftime(std::time(nullptr), timegm(&tm));
}

nlohmann::json read_json(const std::filesystem::path& p) {
  auto j = nlohmann::json::parse(csweep::store::read_text_file(p), nullptr, false);
  return j.is_discarded() || !j.is_object() ? nlohmann::json::object() : j;
}

std::string this_host() {
  char buf[256] = {};
  ::gethostname(buf, sizeof buf - 1);
  return buf;
}

// Whether process `pid` of this machine still runs (a zombie, killed but not reaped yet, does not).
bool process_runs(int64_t pid) {
  if (pid <= 0) return false;
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(stat, line)) return false;
  const auto close = line.rfind(')');
  return close != std::string::npos && close + 2 < line.size() && line[close + 2] != 'Z';
}

// Why a status file that says "running" is not believed, or "" while its coordinator is alive:
// on the coordinator's own host its pid is checked (a SIGKILLed run is seen at once); from any
// other host only the heartbeat can tell, once status.json (rewritten about once a second) has
// not changed for 15 s.
std::string gone_reason(const nlohmann::json& live) {
  const auto& hosts =
      live.contains("hosts") && live["hosts"].is_array() ? live["hosts"] : nlohmann::json::array();
  const int64_t pid =
      live.contains("coordinator_pid") && live["coordinator_pid"].is_number_integer()
          ? live["coordinator_pid"].get<int64_t>()
          : -1;
  if (!hosts.empty() && hosts[0].is_string() && hosts[0].get<std::string>() == this_host() &&
      pid > 0)
    return process_runs(pid) ? ""
                             : "killed: coordinator pid " + std::to_string(pid) + " on " +
                                   this_host() + " is gone; rerun to resume";
  const double age = age_s(live);
  return age > 15
             ? "stale: coordinator stopped updating " + std::to_string(static_cast<int64_t>(age)) +
                   " s ago (killed?); rerun to resume"
             : "";
}

// A status file's state as the store's state: a run whose coordinator is gone is not running.
std::string live_state(const nlohmann::json& live, bool done) {
  const std::string s = live.value("state", "");
  if (done) return "complete";
  if (s == "running") {
    const std::string gone = gone_reason(live);
    return gone.empty() ? "running" : gone;
  }
  if (s == "interrupted") return "interrupted (rerun to resume)";
  return s.empty() ? "not started" : "incomplete";
}

// The live figures of a run that no longer runs are history: no workers, no ETA.
nlohmann::json without_live_figures(nlohmann::json live, const std::string& state) {
  if (state == "running" || live.value("state", "") != "running") return live;
  live["state"] = "gone";
  live["live_workers"] = 0;
  live.erase("eta_s");
  live.erase("cells_per_s");
  return live;
}

// One entry per --slice k/N run that wrote a status file: its own shards and progress.
nlohmann::json slices_json(const std::filesystem::path& dir,
                           const csweep::store::StoreContents& c) {
  nlohmann::json out = nlohmann::json::array();
  std::vector<std::filesystem::path> files;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(dir, ec)) {
    const std::string n = e.path().filename().string();
    if (n.rfind("status-s", 0) == 0 && e.path().extension() == ".json") files.push_back(e.path());
  }
  std::sort(files.begin(), files.end());
  for (const auto& f : files) {
    const csweep::store::Slice slice = csweep::store::slice_of_name(f.filename().string());
    if (!slice.active()) continue;
    int64_t total = 0, done = 0;
    for (const auto& s : c.layout.shards)
      if (slice.contains(s.id)) {
        ++total;
        done += c.shard_done[s.id];
      }
    const nlohmann::json live = read_json(f);
    nlohmann::json j{{"slice", slice.text()},
                     {"shards_total", total},
                     {"shards_done", done},
                     {"complete", done == total},
                     {"state", live_state(live, done == total)}};
    if (live.contains("slurm")) j["slurm"] = live["slurm"];
    if (live.contains("exit_code")) j["exit_code"] = live["exit_code"];
    out.push_back(j);
  }
  return out;
}

bool on_path(const std::string& tool) {
  const char* path = std::getenv("PATH");
  std::stringstream ss(path ? path : "");
  std::string d;
  while (std::getline(ss, d, ':'))
    if (!d.empty() && ::access((std::filesystem::path(d) / tool).c_str(), X_OK) == 0) return true;
  return false;
}

nlohmann::json status_json(const std::filesystem::path& dir,
                           std::vector<csweep::cluster::SlurmJobStatus>& slurm) {
  csweep::store::StoreContents c = csweep::store::read_store(dir);
  const nlohmann::json live = csweep::store::Store::open_read_only(dir).status();
  nlohmann::json j;
  j["store"] = dir.string();
  j["spec_hash"] = c.spec_hash;
  j["shards_total"] = c.layout.shards.size();
  j["shards_done"] = c.shards_done;
  j["complete"] = c.complete();
  j["duplicate_shards"] = c.duplicate_shards;
  j["conflicts"] = c.conflicts;
  j["fragments"] = c.fragments.size();
  j["unreadable_fragments"] = c.unreadable.size();
  j["errors"] = count_lines(dir / "errors.jsonl");
  j["cells_total"] = c.layout.total_cells();
  int64_t cells_done = 0;
  j["analyses"] = nlohmann::json::array();
  for (const auto& a : c.analyses) {
    int64_t done = 0;
    for (uint8_t d : a.done) done += d;
    cells_done += done;
    nlohmann::json axes = nlohmann::json::array();
    for (const auto& x : a.info.axes) axes.push_back({{"name", x.name}, {"size", x.size}});
    j["analyses"].push_back({{"name", a.info.name},
                             {"kind", a.info.kind},
                             {"axes", axes},
                             {"cells_total", a.n_prompts * a.cells},
                             {"cells_done", done}});
  }
  j["cells_done"] = cells_done;
  std::string state = live_state(live, c.complete());
  if (state == "not started" && c.shards_done > 0) state = "incomplete";
  const nlohmann::json slices = slices_json(dir, c);
  for (const auto& sl : slices)
    if (!c.complete() && sl["state"] == "running") state = "running";
  j["state"] = state;
  if (!live.empty()) j["run"] = without_live_figures(live, state);
  j["slices"] = slices;
  // Which process (rank, host, slice, Slurm job / array task) wrote which fragment.
  j["writers"] = nlohmann::json::array();
  for (const auto& w : c.writers) j["writers"].push_back(w.to_json());
  // The Slurm side, only for a store csweep submit wrote to and where Slurm is installed.
  if (std::filesystem::exists(dir / "slurm" / "jobs.jsonl") && on_path("squeue")) {
    slurm = csweep::cluster::slurm_jobs_status(dir);
    j["slurm_jobs"] = csweep::cluster::to_json(slurm);
  }
  return j;
}

void print_status_text(const nlohmann::json& j) {
  std::cout << "store:  " << j["store"].get<std::string>() << "\n";
  std::cout << "state:  " << j["state"].get<std::string>();
  if (j.contains("run") && j["state"] == "running") {
    const auto& r = j["run"];
    std::printf(" | %.1f patched runs/s", r.value("cells_per_s", 0.0));
    if (r.contains("eta_s") && r["eta_s"].is_number())
      std::printf(" | ETA %.0f s", r["eta_s"].get<double>());
    std::printf(" | %d live workers", r.value("live_workers", 0));
    std::fflush(stdout);
  }
  std::cout << "\n";
  std::cout << "shards: " << j["shards_done"] << "/" << j["shards_total"] << " done, "
            << j["errors"] << " errors recorded, " << j["duplicate_shards"]
            << " duplicate copies\n";
  for (const auto& a : j["analyses"]) {
    std::cout << "  " << a["name"].get<std::string>() << " (" << a["kind"].get<std::string>()
              << ") [";
    bool first = true;
    for (const auto& x : a["axes"]) {
      std::cout << (first ? "" : " x ") << x["name"].get<std::string>() << " " << x["size"];
      first = false;
    }
    std::cout << "]: " << a["cells_done"] << "/" << a["cells_total"] << " cells\n";
  }
  for (const auto& sl : j["slices"])
    std::cout << "  slice " << sl["slice"].get<std::string>() << ": " << sl["shards_done"] << "/"
              << sl["shards_total"] << " shards, " << sl["state"].get<std::string>() << "\n";
  std::cout << "fragments: " << j["fragments"] << " (" << j["unreadable_fragments"]
            << " unreadable)\n";
  for (const auto& w : j["writers"]) {
    if (!w.contains("slurm") && !w.contains("slice")) continue;
    std::cout << "  " << w["file"].get<std::string>() << ": " << w["shards"] << " shards";
    if (w.contains("slice")) std::cout << ", slice " << w["slice"].get<std::string>();
    if (w.contains("slurm")) {
      const auto& sl = w["slurm"];
      if (sl.contains("array_job_id"))
        std::cout << ", array task " << sl["array_job_id"].get<std::string>() << "_"
                  << sl.value("array_task_id", "?");
      else if (sl.contains("job_id"))
        std::cout << ", job " << sl["job_id"].get<std::string>();
    }
    std::cout << "\n";
  }
  for (const auto& c : j["conflicts"]) std::cout << "CONFLICT: " << c.get<std::string>() << "\n";
}

csweep::apps::CommandRegistration status_command(
    "status", "progress of a running or finished sweep", [](CLI::App& sub) {
      auto dir = std::make_shared<std::filesystem::path>();
      auto json = std::make_shared<bool>(false);
      sub.add_option("store", *dir, "store directory")->required();
      sub.add_flag("--json", *json, "machine-readable output");
      return [dir, json] {
        std::vector<csweep::cluster::SlurmJobStatus> slurm;
        const nlohmann::json j = status_json(*dir, slurm);
        if (*json)
          std::cout << j.dump(2) << std::endl;
        else {
          print_status_text(j);
          if (j.contains("slurm_jobs"))
            std::cout << "slurm:\n" << csweep::cluster::format_status_table(slurm);
        }
        return 0;
      };
    });

}  // namespace
