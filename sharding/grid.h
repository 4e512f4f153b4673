#pragma once
// The unit space of one analysis: its kind's grid (jobs/kinds/) and cost-model inputs.
#include "jobs/job_spec.h"
#include "model/config.h"
#include "sharding/plan.h"

namespace csweep::sharding {

AnalysisGrid make_grid(const jobs::AnalysisSpec& analysis, uint32_t index,
                       const model::ModelConfig& config);

}  // namespace csweep::sharding
