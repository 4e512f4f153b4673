// examples/weight_circuits.yaml end to end on the bundled model (csweep plan, run, a resumed
// rerun, reduce): sweep.h5's head scores and composition scores equal a dense NumPy
// computation from the checkpoint's own weights (tests/examples/check_weight_circuits.py,
// TransformerLens's formulas re-derived there), and the induction circuit shows: the
// previous-token head 0.0 and its K-composition into the induction heads.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "tests/examples/run_example.h"

namespace csweep::testing {
namespace {

TEST(WeightCircuitsExample, PlanRunResumeAndReduceMatchDenseCircuits) {
  const std::string job = source_path("examples/weight_circuits.yaml").string();
  const CommandResult plan = run_command(csweep_bin() + " plan " + job + " --json");
  ASSERT_EQ(plan.status, 0) << plan.output;
  const auto j = nlohmann::json::parse(plan.output);
  ASSERT_EQ(j["analyses"].size(), 2u);
  EXPECT_EQ(j["analyses"][0]["units"], 16);   // 2 scores x 2 layers x 4 heads
  EXPECT_EQ(j["analyses"][1]["units"], 192);  // 3 compositions x (2 x 4)^2 head pairs
  for (const auto& a : j["analyses"]) EXPECT_GT(a["flops"].get<double>(), 0.0);

  const auto store = fresh_test_dir("examples", "weight-circuits");
  const std::string reduced = run_resume_reduce(job, store);
  ASSERT_NE(reduced, "");
  EXPECT_NE(reduced.find("heatmaps/composition_mean.png"), std::string::npos) << reduced;
  const CommandResult check = run_command(
      "/usr/bin/python3 " + source_path("tests/examples/check_weight_circuits.py").string() + " " +
      store.string() + " " + source_path("examples/models/induction-2l").string());
  EXPECT_EQ(check.status, 0) << check.output;
  std::filesystem::remove_all(store);
}

}  // namespace
}  // namespace csweep::testing
