// examples/sae_feature_search.yaml end to end: csweep plan, a plain run (and a resumed rerun
// that computes nothing), the same job under mpirun -np 3 (two workers), and a run cut short
// (--slice 0/3: a third of the contexts, reduced while partial) then resumed by a plain run;
// tests/examples/check_feature_search.py checks that the three sweep.h5 files hold the same
// feature search (the merge across workers and runs is exact), recomputes it from the
// per-context rows with numpy, and that the repeated-copy feature's top tokens repeat a token
// a copy length earlier.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "tests/examples/run_example.h"

namespace csweep::testing {
namespace {

TEST(FeatureSearchExample, OneProcessTwoWorkersAndAResumedRunGiveTheSameSearch) {
  const std::string job = source_path("examples/sae_feature_search.yaml").string();
  const CommandResult plan = run_command(csweep_bin() + " plan " + job + " --json");
  ASSERT_EQ(plan.status, 0) << plan.output;
  EXPECT_EQ(nlohmann::json::parse(plan.output)["analyses"][0]["units"],
            122880);  // 64 contexts x 128 features x 15 quantities

  const auto plain = fresh_test_dir("examples", "feature_search_plain");
  ASSERT_NE(run_resume_reduce(job, plain), "");
  const auto ranks = fresh_test_dir("examples", "feature_search_mpi");
  const CommandResult run = run_command(
      "OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 mpirun -np 3 "
      "--oversubscribe --bind-to none " +
      csweep_bin() + " run " + job + " --store " + ranks.string());
  ASSERT_EQ(run.status, 0) << run.output;
  const CommandResult reduce = run_command(csweep_bin() + " reduce " + ranks.string());
  ASSERT_EQ(reduce.status, 0) << reduce.output;
  // Resumable per context: a third of the contexts, a reduce of the partial store, the rest.
  const auto resumed = fresh_test_dir("examples", "feature_search_resumed");
  const std::string run_resumed = csweep_bin() + " run " + job + " --store " + resumed.string();
  const CommandResult part = run_command(run_resumed + " --slice 0/3");
  ASSERT_EQ(part.status, 0) << part.output;
  const CommandResult partial = run_command(csweep_bin() + " reduce " + resumed.string());
  ASSERT_EQ(partial.status, 0) << partial.output;
  EXPECT_EQ(partial.output.find("122880/122880"), std::string::npos) << partial.output;
  const CommandResult rest = run_command(run_resumed);
  ASSERT_EQ(rest.status, 0) << rest.output;
  EXPECT_EQ(rest.output.find("(0 this run)"), std::string::npos) << rest.output;
  ASSERT_EQ(run_command(csweep_bin() + " reduce " + resumed.string()).status, 0);

  const CommandResult check = run_command(
      "/usr/bin/python3 " + source_path("tests/examples/check_feature_search.py").string() + " " +
      plain.string() + " " + ranks.string() + " " + resumed.string());
  EXPECT_EQ(check.status, 0) << check.output;
  std::printf("%s", check.output.c_str());
  for (const auto& dir : {plain, ranks, resumed}) std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace csweep::testing
