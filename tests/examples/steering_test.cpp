// examples/steering.yaml end to end (csweep plan, run, a resumed rerun, reduce): in sweep.h5
// scale 0 is the clean run at every layer (equal to csweep forward's logit difference, KL 0, the
// same top token) and the KL from the unsteered run grows with |scale|; a direction from a .npy
// file moves the logit difference it was built from.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "tests/examples/run_example.h"

namespace csweep::testing {
namespace {

const std::string kPython = "/usr/bin/python3 ";

TEST(SteeringExample, ScaleZeroIsTheCleanRunAndKlGrowsWithScale) {
  const std::string job = source_path("examples/steering.yaml").string();
  const CommandResult plan = run_command(csweep_bin() + " plan " + job + " --json");
  ASSERT_EQ(plan.status, 0) << plan.output;
  const auto j = nlohmann::json::parse(plan.output);
  EXPECT_EQ(j["analyses"][0]["units"], 168);  // 4 prompts x 2 layers x 7 scales x 3 quantities
  EXPECT_GT(j["analyses"][0]["flops"].get<double>(), 0.0);

  const auto store = fresh_test_dir("examples", "steering");
  const std::string reduced = run_resume_reduce(job, store);
  ASSERT_NE(reduced, "");
  EXPECT_NE(reduced.find("heatmaps/steer_kl_mean.png"), std::string::npos) << reduced;
  const CommandResult check = run_command(
      kPython + source_path("tests/examples/check_steering.py").string() + " " + store.string() +
      " " + csweep_bin() + " " + source_path("examples/models/induction-2l").string());
  EXPECT_EQ(check.status, 0) << check.output;
  std::filesystem::remove_all(store);
}

TEST(SteeringExample, ADirectionFileMovesItsLogitDifference) {
  const auto dir = fresh_test_dir("examples", "steering-file");
  std::filesystem::create_directories(dir);
  const std::string script =
      kPython + source_path("tests/examples/check_steering_file.py").string();
  const CommandResult prepare = run_command(script + " prepare " + dir.string() + " " +
                                            source_path("examples/models/induction-2l").string());
  ASSERT_EQ(prepare.status, 0) << prepare.output;
  const std::string store = (dir / "store").string();
  const CommandResult run =
      run_command(csweep_bin() + " run " + (dir / "job.yaml").string() + " --store " + store);
  ASSERT_EQ(run.status, 0) << run.output;
  ASSERT_EQ(run_command(csweep_bin() + " reduce " + store).status, 0);
  const CommandResult check = run_command(script + " check " + dir.string());
  EXPECT_EQ(check.status, 0) << check.output;
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace csweep::testing
