#pragma once
// An example job end to end as the examples' tests run it: csweep run into a store, a rerun
// that must resume with nothing left to compute, then csweep reduce.
#include <gtest/gtest.h>

#include <filesystem>
#include <string>

#include "tests/run_command.h"
#include "tests/test_paths.h"

namespace csweep::testing {

// Returns reduce's output; fails the test (and returns "") when a step fails.
inline std::string run_resume_reduce(const std::string& job, const std::filesystem::path& store) {
  const std::string run = csweep_bin() + " run " + job + " --store " + store.string();
  const CommandResult first = run_command(run);
  EXPECT_EQ(first.status, 0) << first.output;
  const CommandResult again = run_command(run);  // resumes: nothing left to compute
  EXPECT_EQ(again.status, 0) << again.output;
  EXPECT_NE(again.output.find("(0 this run)"), std::string::npos) << again.output;
  const CommandResult reduce = run_command(csweep_bin() + " reduce " + store.string());
  EXPECT_EQ(reduce.status, 0) << reduce.output;
  return first.status == 0 && again.status == 0 && reduce.status == 0 ? reduce.output : "";
}

}  // namespace csweep::testing
