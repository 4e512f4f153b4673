#pragma once
// A real single-host Slurm cluster for the tests: munged + slurmctld + two slurmd "nodes",
// all state in a temporary directory, on free ports; started once for the test binary (a
// gtest Environment) and stopped — exactly the daemons it started — at the end, with a
// watchdog that stops them if the test process dies first.
#include <chrono>
#include <filesystem>
#include <functional>
#include <string>

#include <gtest/gtest.h>

namespace csweep::cluster::testing {

class SlurmCluster : public ::testing::Environment {
 public:
  void SetUp() override;
  void TearDown() override;

  static bool running() { return running_; }
  static const std::string& skip_reason() { return skip_reason_; }
  static const std::filesystem::path& dir() { return dir_; }

 private:
  static bool running_;
  static std::string skip_reason_;
  static std::filesystem::path dir_;
};

// JobState of `job_id` from `scontrol show job -o` (first line for an array), "" if unknown.
std::string job_state(const std::string& job_id);
int job_restarts(const std::string& job_id);
// Does a slurmstepd of job `id` still run on this host (its steps' processes not yet reaped)?
bool step_daemons_alive(const std::string& id);
// Polls `done` every 0.2 s; false on timeout.
bool wait_until(const std::function<bool()>& done, std::chrono::seconds timeout);
// Waits until every line of `scontrol show job -o job_id` is in a final state; returns the
// states joined by ','.
std::string wait_finished(const std::string& job_id, std::chrono::seconds timeout);

}  // namespace csweep::cluster::testing
