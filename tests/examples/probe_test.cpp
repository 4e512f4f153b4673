// examples/probe.yaml end to end (csweep plan, run, a resumed rerun, reduce): the plan gives the
// whole prompt set one shard; in sweep.h5 the probe reads "repeated" at the last token after the
// induction layer and is at chance at the first token and in the shuffled-label control
// (tests/examples/check_probe.py).
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "tests/examples/run_example.h"

namespace csweep::testing {
namespace {

TEST(ProbeExample, ReadsRepetitionAfterTheInductionLayerOnly) {
  const std::string job = source_path("examples/probe.yaml").string();
  const CommandResult plan = run_command(csweep_bin() + " plan " + job + " --json");
  ASSERT_EQ(plan.status, 0) << plan.output;
  const auto j = nlohmann::json::parse(plan.output);
  EXPECT_EQ(j["analyses"][0]["units"], 24);  // 2 sites x 2 layers x 3 tokens x 2, once per set
  EXPECT_EQ(j["analyses"][0]["shards"], 1);
  EXPECT_GT(j["analyses"][0]["flops"].get<double>(), 0.0);

  const auto store = fresh_test_dir("examples", "probe");
  const std::string reduced = run_resume_reduce(job, store);
  ASSERT_NE(reduced, "");
  EXPECT_NE(reduced.find("heatmaps/repeated_score_mean.png"), std::string::npos) << reduced;
  const CommandResult check =
      run_command("/usr/bin/python3 " + source_path("tests/examples/check_probe.py").string() +
                  " " + store.string());
  EXPECT_EQ(check.status, 0) << check.output;
  std::filesystem::remove_all(store);
}

}  // namespace
}  // namespace csweep::testing
