#pragma once
// Progress of a run: a live line on a terminal (stderr, redrawn ~4 times a second), a log
// line every `interval_s` otherwise (Slurm output files), and STORE/status.json about once a
// second for `csweep status`. Rates count this run only; "patched runs" are cells.
#include <chrono>
#include <string>

#include <nlohmann/json.hpp>

#include "orchestrator/scheduler.h"
#include "store/store.h"

namespace csweep::orchestrator {

class Progress {
 public:
  Progress(const store::Store& store, const Scheduler& scheduler, double interval_s,
           nlohmann::json run_info);
  // Cheap to call on every loop iteration: does work only when a redraw/write is due.
  void tick(int live_workers, bool force = false);
  void finish(const std::string& state, int exit_code);  // final status.json and line
  nlohmann::json snapshot(const std::string& state, int live_workers) const;

 private:
  std::string line(int live_workers) const;
  const store::Store& store_;
  const Scheduler& scheduler_;
  double interval_s_;
  bool tty_;
  nlohmann::json run_info_;
  int64_t cells_at_start_, shards_at_start_;
  std::chrono::steady_clock::time_point start_, last_line_, last_status_;
  bool drew_live_line_ = false;
};

}  // namespace csweep::orchestrator
