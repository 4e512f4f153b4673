// examples/path_patching.yaml end to end (csweep plan, run, a resumed rerun, reduce): the
// previous-token head 0.0 feeds the induction head 1.2 through its key input, not its query or
// value (tests/examples/check_path_patching.py reads sweep.h5); examples/edge_attribution.yaml,
// on the same prompts, finds that edge among its top ones.
#include <gtest/gtest.h>

#include <cstdio>

#include <nlohmann/json.hpp>

#include "tests/examples/run_example.h"

namespace csweep::testing {
namespace {

// Runs examples/NAME.yaml (run, a resumed rerun, reduce) and tests/examples/check_NAME.py on its
// store.
void run_and_check(const std::string& name) {
  const auto store = fresh_test_dir("examples", name);
  ASSERT_NE(run_resume_reduce(source_path("examples/" + name + ".yaml").string(), store), "");
  const CommandResult check = run_command(
      "/usr/bin/python3 " + source_path("tests/examples/check_" + name + ".py").string() + " " +
      store.string());
  EXPECT_EQ(check.status, 0) << check.output;
  std::printf("%s", check.output.c_str());
  std::filesystem::remove_all(store);
}

TEST(PathPatchingExample, PreviousTokenHeadFeedsTheInductionHeadThroughItsKeys) {
  const std::string job = source_path("examples/path_patching.yaml").string();
  const CommandResult plan = run_command(csweep_bin() + " plan " + job + " --json");
  ASSERT_EQ(plan.status, 0) << plan.output;
  const auto j = nlohmann::json::parse(plan.output);
  EXPECT_EQ(j["analyses"][0]["units"], 24);  // 6 prompts x 4 layer-0 heads
  EXPECT_EQ(j["analyses"][3]["units"], 48);  // 6 prompts x 2 layers x 4 heads
  run_and_check("path_patching");
}

// examples/edge_attribution.yaml (the same prompts): EAP and EAP-IG both put the K-composition
// edge 0.0 -> 1.2.k among their top 3 edges (tests/examples/check_edge_attribution.py).
TEST(EdgeAttributionExample, PreviousTokenHeadToInductionKeyIsATopEdge) {
  run_and_check("edge_attribution");
}

}  // namespace
}  // namespace csweep::testing
