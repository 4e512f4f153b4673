#pragma once
// What a shard is computed from: one analysis of the job for one prompt as the analyses
// library's request (the kind's typed options mapped onto SweepRequest fields, one function per
// kind that has options beyond its grid), and the plan's grid in that library's terms.
#include <cstddef>
#include <vector>

#include "analyses/sweep.h"
#include "jobs/job_spec.h"
#include "sharding/plan.h"

namespace csweep::worker {

analyses::SweepRequest request_for(const jobs::JobSpec& spec, const jobs::AnalysisSpec& a,
                                   size_t prompt_index, const model::Model& model);

std::vector<analyses::GridAxis> analyses_axes(const std::vector<jobs::Axis>& axes);
inline std::vector<analyses::GridAxis> analyses_axes(const sharding::AnalysisGrid& grid) {
  return analyses_axes(grid.axes);
}

}  // namespace csweep::worker
