// The grid of hand-written requests (tests/analyses/request_grid.h) against the analysis-kind
// registry's, the one the planner shards and the worker computes over: for every analysis of
// the example job of each kind request_grid.h knows (examples/<kind>.yaml), the worker's request
// for the first prompt has the plan's axes (names, order, values, labels).
#include <gtest/gtest.h>

#include <filesystem>
#include <string>

#include "jobs/job_spec.h"
#include "model/model.h"
#include "sharding/grid.h"
#include "tests/analyses/request_grid.h"
#include "tests/test_paths.h"
#include "worker/analysis_request.h"

namespace csweep::analyses {
namespace {

void expect_same_axes(const std::vector<GridAxis>& hand, const std::vector<GridAxis>& plan) {
  ASSERT_EQ(hand.size(), plan.size());
  for (size_t i = 0; i < hand.size(); ++i) {
    SCOPED_TRACE(plan[i].name);
    EXPECT_EQ(hand[i].name, plan[i].name);
    EXPECT_EQ(hand[i].values, plan[i].values);
    EXPECT_EQ(hand[i].labels, plan[i].labels);
  }
}

TEST(RequestGrid, AgreesWithTheRegistryOnEveryExample) {
  for (const char* kind :
       {"activation_patching", "ablation", "causal_tracing", "logit_lens",
        "direct_logit_attribution", "attention_scores", "attribution_patching"}) {
    const std::filesystem::path file =
        csweep::testing::source_path("examples") / (std::string(kind) + ".yaml");
    const jobs::JobSpec spec = jobs::load_job_spec(file);
    const auto model = model::Model::load(spec.model.path);
    int compared = 0;
    for (size_t i = 0; i < spec.analyses.size(); ++i) {
      const jobs::AnalysisSpec& a = spec.analyses[i];
      SCOPED_TRACE(file.filename().string() + ": " + a.name);
      const SweepRequest request = worker::request_for(spec, a, 0, *model);
      const auto plan =
          worker::analyses_axes(sharding::make_grid(a, static_cast<uint32_t>(i), model->config()));
      expect_same_axes(grid_axes(request, model->config()), plan);
      compared += a.kind->name == kind;
    }
    EXPECT_GT(compared, 0) << file;
  }
}

}  // namespace
}  // namespace csweep::analyses
