// examples/weight_norms.yaml end to end (csweep run in one process, then reduce): sweep.h5's
// per-head norms equal a dense NumPy computation from the checkpoint's own weights.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <string>

namespace fs = std::filesystem;

namespace {

std::string csweep_bin() {
  const char* env = std::getenv("CSWEEP_BIN");
  return env ? env : CSWEEP_BINARY_DIR "/bin/csweep";
}

int run(const std::string& command) {
  int status = std::system(command.c_str());
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

TEST(WeightNormsExample, RunAndReduceMatchDenseNorms) {
  fs::path store =
      fs::temp_directory_path() / ("csweep-weight-norms-" + std::to_string(::getpid()));
  fs::remove_all(store);
  ASSERT_EQ(run(csweep_bin() + " run " CSWEEP_SOURCE_DIR "/examples/weight_norms.yaml --store " +
                store.string() + " > /dev/null"),
            0);
  ASSERT_EQ(run(csweep_bin() + " reduce " + store.string() + " > /dev/null"), 0);
  EXPECT_EQ(run("/usr/bin/python3 " CSWEEP_SOURCE_DIR "/tests/examples/check_weight_norms.py " +
                store.string() + " " CSWEEP_SOURCE_DIR "/../shared/fixtures/gpt2-tiny"),
            0);
  fs::remove_all(store);
}

}  // namespace
