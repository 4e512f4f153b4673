// examples/sae_feature_search.yaml end to end: csweep plan, a plain run (and a resumed rerun
// that computes nothing), the same job under mpirun -np 3 (two workers), reduce of both;
// tests/examples/check_feature_search.py checks that the two sweep.h5 files hold the same
// feature search (the merge across workers is exact), recomputes it from the per-context rows
// with numpy, and that the repeated-copy feature's top tokens lie in the copied segment.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "tests/examples/run_example.h"

namespace csweep::testing {
namespace {

TEST(FeatureSearchExample, OneProcessAndTwoWorkersGiveTheSameSearch) {
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
  const CommandResult check = run_command(
      "/usr/bin/python3 " + source_path("tests/examples/check_feature_search.py").string() + " " +
      plain.string() + " " + ranks.string());
  EXPECT_EQ(check.status, 0) << check.output;
  std::printf("%s", check.output.c_str());
  std::filesystem::remove_all(plain);
  std::filesystem::remove_all(ranks);
}

}  // namespace
}  // namespace csweep::testing
