// examples/weight_norms.yaml end to end (csweep run in one process, then reduce): sweep.h5's
// per-head norms equal a dense NumPy computation from the checkpoint's own weights.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <string>

#include "tests/run_command.h"
#include "tests/test_paths.h"

namespace fs = std::filesystem;

namespace {

using csweep::testing::csweep_bin;

int status_of(const std::string& command) { return csweep::testing::run_command(command).status; }

TEST(WeightNormsExample, RunAndReduceMatchDenseNorms) {
  fs::path store =
      fs::temp_directory_path() / ("csweep-weight-norms-" + std::to_string(::getpid()));
  fs::remove_all(store);
  ASSERT_EQ(
      status_of(csweep_bin() + " run " CSWEEP_SOURCE_DIR "/examples/weight_norms.yaml --store " +
                store.string() + " > /dev/null"),
      0);
  ASSERT_EQ(status_of(csweep_bin() + " reduce " + store.string() + " > /dev/null"), 0);
  EXPECT_EQ(
      status_of("/usr/bin/python3 " CSWEEP_SOURCE_DIR "/tests/examples/check_weight_norms.py " +
                store.string() + " " CSWEEP_SOURCE_DIR "/../shared/fixtures/gpt2-tiny"),
      0);
  fs::remove_all(store);
}

}  // namespace
