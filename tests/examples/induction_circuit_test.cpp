// The bundled model's circuit is found from the sweep's output, not from its card: runs
// examples/induction.yaml end to end (csweep run under mpirun when available, then reduce)
// and the companion logprob job for the loss on the repeated half, and checks sweep.h5 with
// h5py.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "tests/examples/run_example.h"
#include "tests/test_paths.h"

namespace fs = std::filesystem;

namespace {

using csweep::testing::csweep_bin;

int run(const std::string& command) {
  int status = std::system(command.c_str());
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

}  // namespace

TEST(InductionCircuit, SweepFindsTheInductionHead) {
  fs::path store = fs::temp_directory_path() / ("csweep-induction-" + std::to_string(::getpid()));
  fs::path loss_store =
      fs::temp_directory_path() / ("csweep-induction-loss-" + std::to_string(::getpid()));
  fs::remove_all(store);
  fs::remove_all(loss_store);
  const std::string job = csweep::testing::source_path("examples/induction.yaml").string();
  ASSERT_EQ(run("OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 mpirun -np 3 "
                "--oversubscribe " +
                csweep_bin() + " run " + job + " --store " + store.string()),
            0);
  ASSERT_EQ(run(csweep_bin() + " reduce " + store.string() + " > /dev/null"), 0);
  // The same prompts with metric logprob: the loss on the repeated half, clean and ablated.
  ASSERT_EQ(run(csweep_bin() + " run " +
                csweep::testing::source_path("tests/examples/induction_loss.yaml").string() +
                " --store " + loss_store.string() + " > /dev/null"),
            0);
  ASSERT_EQ(run(csweep_bin() + " reduce " + loss_store.string() + " > /dev/null"), 0);
  EXPECT_EQ(run("/usr/bin/python3 " +
                csweep::testing::source_path("tests/examples/check_induction_circuit.py").string() +
                " " + store.string() + " " + loss_store.string()),
            0);
  fs::remove_all(store);
  fs::remove_all(loss_store);
}

namespace csweep::testing {
namespace {

// examples/circuit_faithfulness.yaml end to end (run, a resumed rerun, reduce): the hand-ranked
// induction circuit's faithfulness curve (tests/examples/check_circuit_faithfulness.py).
TEST(CircuitFaithfulnessExample, ThreeHeadInductionCircuitIsFaithful) {
  const auto store = fresh_test_dir("examples", "circuit_faithfulness");
  ASSERT_NE(run_resume_reduce(source_path("examples/circuit_faithfulness.yaml").string(), store),
            "");
  const CommandResult check = run_command(
      "/usr/bin/python3 " + source_path("tests/examples/check_circuit_faithfulness.py").string() +
      " " + store.string());
  EXPECT_EQ(check.status, 0) << check.output;
  std::printf("%s", check.output.c_str());
  fs::remove_all(store);
}

// examples/edge_circuit.yaml end to end (run, a resumed rerun, reduce): EAP-IG's top edges as
// a stage's ranked list, the exact edge circuits' curve and the drawn edge circuit
// (tests/examples/check_edge_circuit.py).
TEST(EdgeCircuitExample, TopEapIgEdgesMakeAFaithfulInductionCircuit) {
  const auto store = fresh_test_dir("examples", "edge_circuit");
  ASSERT_NE(run_resume_reduce(source_path("examples/edge_circuit.yaml").string(), store), "");
  const CommandResult check = run_command(
      "/usr/bin/python3 " + source_path("tests/examples/check_edge_circuit.py").string() + " " +
      store.string());
  EXPECT_EQ(check.status, 0) << check.output;
  std::printf("%s", check.output.c_str());
  fs::remove_all(store);
}

}  // namespace
}  // namespace csweep::testing
