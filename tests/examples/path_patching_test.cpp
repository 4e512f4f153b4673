// examples/path_patching.yaml end to end (csweep plan, run, a resumed rerun, reduce): the
// previous-token head 0.0 feeds the induction head 1.2 through its key input, not its query or
// value (tests/examples/check_path_patching.py reads sweep.h5).
#include <gtest/gtest.h>

#include <cstdio>

#include <nlohmann/json.hpp>

#include "tests/examples/run_example.h"

namespace csweep::testing {
namespace {

TEST(PathPatchingExample, PreviousTokenHeadFeedsTheInductionHeadThroughItsKeys) {
  const std::string job = source_path("examples/path_patching.yaml").string();
  const CommandResult plan = run_command(csweep_bin() + " plan " + job + " --json");
  ASSERT_EQ(plan.status, 0) << plan.output;
  const auto j = nlohmann::json::parse(plan.output);
  EXPECT_EQ(j["analyses"][0]["units"], 24);  // 6 prompts x 4 layer-0 heads
  EXPECT_EQ(j["analyses"][3]["units"], 48);  // 6 prompts x 2 layers x 4 heads

  const auto store = fresh_test_dir("examples", "path_patching");
  ASSERT_NE(run_resume_reduce(job, store), "");
  const CommandResult check = run_command(
      "/usr/bin/python3 " + source_path("tests/examples/check_path_patching.py").string() + " " +
      store.string());
  EXPECT_EQ(check.status, 0) << check.output;
  std::printf("%s", check.output.c_str());
  std::filesystem::remove_all(store);
}

}  // namespace
}  // namespace csweep::testing
