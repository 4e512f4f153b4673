// examples/steering.yaml end to end (csweep run in one process, then reduce): in sweep.h5 scale 0
// is the clean run at every layer (equal to csweep forward's logit difference, KL 0, the same top
// token) and the KL from the unsteered run grows with |scale|; a direction from a .npy file moves
// the logit difference it was built from.
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

TEST(SteeringExample, ScaleZeroIsTheCleanRunAndKlGrowsWithScale) {
  fs::path store = fs::temp_directory_path() / ("csweep-steering-" + std::to_string(::getpid()));
  fs::remove_all(store);
  ASSERT_EQ(run(csweep_bin() + " run " CSWEEP_SOURCE_DIR "/examples/steering.yaml --store " +
                store.string() + " > /dev/null"),
            0);
  ASSERT_EQ(run(csweep_bin() + " reduce " + store.string() + " > /dev/null"), 0);
  EXPECT_EQ(run("/usr/bin/python3 " CSWEEP_SOURCE_DIR "/tests/examples/check_steering.py " +
                store.string() + " " + csweep_bin() +
                " " CSWEEP_SOURCE_DIR "/examples/models/induction-2l"),
            0);
  fs::remove_all(store);
}

TEST(SteeringExample, ADirectionFileMovesItsLogitDifference) {
  fs::path dir = fs::temp_directory_path() / ("csweep-steering-file-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  const std::string script =
      "/usr/bin/python3 " CSWEEP_SOURCE_DIR "/tests/examples/check_steering_file.py ";
  ASSERT_EQ(run(script + "prepare " + dir.string() +
                " " CSWEEP_SOURCE_DIR "/examples/models/induction-2l"),
            0);
  const std::string store = (dir / "store").string();
  ASSERT_EQ(run(csweep_bin() + " run " + (dir / "job.yaml").string() + " --store " + store +
                " > /dev/null"),
            0);
  ASSERT_EQ(run(csweep_bin() + " reduce " + store + " > /dev/null"), 0);
  EXPECT_EQ(run(script + "check " + dir.string()), 0);
  fs::remove_all(dir);
}

}  // namespace
