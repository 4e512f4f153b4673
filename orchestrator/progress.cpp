#include "orchestrator/progress.h"

#include <unistd.h>

#include <cstdio>

#include "common/utc_time.h"

namespace csweep::orchestrator {

namespace {
std::string format_duration(double s) {
  if (s < 0 || s > 1e8) return "?";
  char buf[32];
  const long t = static_cast<long>(s + 0.5);
  if (t >= 3600)
    std::snprintf(buf, sizeof buf, "%ldh%02ldm", t / 3600, (t / 60) % 60);
  else if (t >= 60)
    std::snprintf(buf, sizeof buf, "%ldm%02lds", t / 60, t % 60);
  else
    std::snprintf(buf, sizeof buf, "%lds", t);
  return buf;
}
}  // namespace

Progress::Progress(const store::Store& store, const Scheduler& scheduler, double interval_s,
                   nlohmann::json run_info)
    : store_(store),
      scheduler_(scheduler),
      interval_s_(interval_s),
      tty_(::isatty(STDERR_FILENO) == 1),
      run_info_(std::move(run_info)),
      cells_at_start_(scheduler.cells_done()),
      shards_at_start_(scheduler.done_count()),
      start_(std::chrono::steady_clock::now()),
      last_line_(start_),
      last_status_(start_ - std::chrono::hours(1)) {}

nlohmann::json Progress::snapshot(const std::string& state, int live_workers) const {
  const double elapsed =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  const int64_t cells_run = scheduler_.cells_done() - cells_at_start_;
  const double rate = elapsed > 0 ? cells_run / elapsed : 0.0;
  const int64_t cells_left = scheduler_.cells_total() - scheduler_.cells_done();
  nlohmann::json j = run_info_;
  j["state"] = state;
  j["updated"] = utc_now();
  j["elapsed_s"] = elapsed;
  j["shards_total"] = scheduler_.total();
  j["shards_done"] = scheduler_.done_count();
  j["shards_done_this_run"] = scheduler_.done_count() - shards_at_start_;
  j["shards_failed"] = scheduler_.failed_count();
  j["shards_pending"] = scheduler_.pending();
  j["shards_reissued"] = scheduler_.reissued();
  j["cells_total"] = scheduler_.cells_total();
  j["cells_done"] = scheduler_.cells_done();
  j["cells_per_s"] = rate;
  j["eta_s"] = rate > 0 ? nlohmann::json(cells_left / rate) : nlohmann::json(nullptr);
  j["live_workers"] = live_workers;
  return j;
}

std::string Progress::line(int live_workers) const {
  const double elapsed =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  const int64_t cells_run = scheduler_.cells_done() - cells_at_start_;
  const double rate = elapsed > 0 ? cells_run / elapsed : 0.0;
  const int64_t cells_left = scheduler_.cells_total() - scheduler_.cells_done();
  // Array tasks share one log folder: say which slice this line is about.
  const std::string slice =
      run_info_.contains("slice") ? "slice " + run_info_["slice"].get<std::string>() + ": " : "";
  char buf[256];
  std::snprintf(
      buf, sizeof buf,
      "%sshards %lld/%lld (%lld failed) | %.1f patched runs/s | %d workers | elapsed %s | ETA %s",
      slice.c_str(), static_cast<long long>(scheduler_.done_count()),
      static_cast<long long>(scheduler_.total()), static_cast<long long>(scheduler_.failed_count()),
      rate, live_workers, format_duration(elapsed).c_str(),
      rate > 0 ? format_duration(cells_left / rate).c_str() : "?");
  return buf;
}

void Progress::tick(int live_workers, bool force) {
  const auto now = std::chrono::steady_clock::now();
  if (force || now - last_status_ > std::chrono::seconds(1)) {
    try {
      store_.write_status(snapshot("running", live_workers));
    } catch (...) {  // progress must never stop a sweep
    }
    last_status_ = now;
  }
  const double since = std::chrono::duration<double>(now - last_line_).count();
  if (tty_ && (force || since > 0.25)) {
    std::fprintf(stderr, "\r\033[K%s", line(live_workers).c_str());
    std::fflush(stderr);
    drew_live_line_ = true;
    last_line_ = now;
  } else if (!tty_ && interval_s_ > 0 && since > interval_s_) {
    std::fprintf(stderr, "csweep: %s\n", line(live_workers).c_str());
    std::fflush(stderr);
    last_line_ = now;
  }
}

void Progress::finish(const std::string& state, int exit_code) {
  nlohmann::json j = snapshot(state, 0);
  j["exit_code"] = exit_code;
  try {
    store_.write_status(j);
  } catch (...) {}
  if (tty_) {
    std::fprintf(stderr, "\r\033[K%s\n", line(0).c_str());
  } else if (interval_s_ > 0) {
    std::fprintf(stderr, "csweep: %s\n", line(0).c_str());
  }
  std::fflush(stderr);
}

}  // namespace csweep::orchestrator
