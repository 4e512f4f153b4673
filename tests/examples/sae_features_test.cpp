// examples/sae_features.yaml end to end (csweep plan, run, a resumed rerun, reduce): both SAE
// feature kinds and the attribution estimate on the bundled model;
// tests/examples/check_sae_features.py checks sweep.h5 (feature axes labelled by feature id,
// unedited cells equal to the baseline run, the trained SAE's repeated-copy feature carrying
// most of the logit difference, and the stage `verified`: exact patching of the attribution's
// top cells only, equal to the same cells of `patch`).
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "tests/examples/run_example.h"

namespace csweep::testing {
namespace {

TEST(SaeFeaturesExample, RunsResumesReducesWithFeatureAxes) {
  const std::string job = source_path("examples/sae_features.yaml").string();
  const CommandResult plan = run_command(csweep_bin() + " plan " + job + " --json");
  ASSERT_EQ(plan.status, 0) << plan.output;
  const auto j = nlohmann::json::parse(plan.output);
  EXPECT_EQ(j["analyses"][0]["units"], 3840);  // 2 prompts x 128 features x 15 positions
  EXPECT_EQ(j["analyses"][1]["units"], 2048);  // 2 prompts x 128 features x 8 positions
  EXPECT_EQ(j["analyses"][2]["units"], 2048);  // the same cells, estimated
  EXPECT_EQ(j["analyses"][3]["units"], 32);    // the estimate's top 8 + 8 random, 2 prompts
  EXPECT_EQ(j["analyses"][3]["stage"]["exhaustive_forwards"], 2048 + 4);

  const auto store = fresh_test_dir("examples", "sae_features");
  ASSERT_NE(run_resume_reduce(job, store), "");
  const CommandResult check = run_command(
      "/usr/bin/python3 " + source_path("tests/examples/check_sae_features.py").string() + " " +
      store.string());
  EXPECT_EQ(check.status, 0) << check.output;
  std::filesystem::remove_all(store);
}

}  // namespace
}  // namespace csweep::testing
