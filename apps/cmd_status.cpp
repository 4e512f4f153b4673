// csweep status STORE [--json]: progress of a running or finished sweep, read-only (safe
// beside a live run: no locks taken, HDF5 file locking off, damaged fragments skipped).
#include <chrono>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <iostream>

#include "apps/command.h"
#include "store/reader.h"
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

nlohmann::json status_json(const std::filesystem::path& dir) {
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
    j["analyses"].push_back({{"name", a.info.name}, {"kind", a.info.kind}, {"axes", axes},
                             {"cells_total", a.n_prompts * a.cells}, {"cells_done", done}});
  }
  j["cells_done"] = cells_done;
  std::string state = c.complete() ? "complete" : (c.shards_done == 0 && live.empty() ? "not started" : "incomplete");
  const double age = age_s(live);
  if (live.value("state", "") == "running") state = age >= 0 && age > 15 ? "stale (coordinator stopped updating: killed?)" : "running";
  else if (!c.complete() && live.value("state", "") == "interrupted") state = "interrupted (rerun to resume)";
  j["state"] = state;
  if (!live.empty()) j["run"] = live;
  return j;
}

void print_text(const nlohmann::json& j) {
  std::cout << "store:  " << j["store"].get<std::string>() << "\n";
  std::cout << "state:  " << j["state"].get<std::string>();
  if (j.contains("run") && j["state"] == "running") {
    const auto& r = j["run"];
    std::printf(" | %.1f patched runs/s", r.value("cells_per_s", 0.0));
    if (r.contains("eta_s") && r["eta_s"].is_number()) std::printf(" | ETA %.0f s", r["eta_s"].get<double>());
    std::printf(" | %d live workers", r.value("live_workers", 0));
    std::fflush(stdout);
  }
  std::cout << "\n";
  std::cout << "shards: " << j["shards_done"] << "/" << j["shards_total"] << " done, " << j["errors"]
            << " errors recorded, " << j["duplicate_shards"] << " duplicate copies\n";
  for (const auto& a : j["analyses"]) {
    std::cout << "  " << a["name"].get<std::string>() << " (" << a["kind"].get<std::string>() << ") [";
    bool first = true;
    for (const auto& x : a["axes"]) {
      std::cout << (first ? "" : " x ") << x["name"].get<std::string>() << " " << x["size"];
      first = false;
    }
    std::cout << "]: " << a["cells_done"] << "/" << a["cells_total"] << " cells\n";
  }
  std::cout << "fragments: " << j["fragments"] << " (" << j["unreadable_fragments"] << " unreadable)\n";
  for (const auto& c : j["conflicts"]) std::cout << "CONFLICT: " << c.get<std::string>() << "\n";
}

csweep::apps::CommandRegistration reg("status", "progress of a running or finished sweep", [](CLI::App& sub) {
  auto dir = std::make_shared<std::filesystem::path>();
  auto json = std::make_shared<bool>(false);
  sub.add_option("store", *dir, "store directory")->required();
  sub.add_flag("--json", *json, "machine-readable output");
  return [dir, json] {
    const nlohmann::json j = status_json(*dir);
    if (*json) std::cout << j.dump(2) << std::endl;
    else print_text(j);
    return 0;
  };
});

}  // namespace
