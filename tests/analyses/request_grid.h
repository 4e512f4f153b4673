#pragma once
// The grid of a SweepRequest written by hand in a test or a benchmark (the seven original
// kinds). The tool's one grid is the analysis-kind registry's (jobs/kinds/): the planner shards
// it and the worker passes the plan's copy to analyses::run_cells. Tests build requests without a
// job file, so this re-states that grid from the request's fields, and
// RequestGrid.AgreesWithTheRegistry checks the two agree (axis names, order, values, labels).
#include <cstdint>
#include <vector>

#include "analyses/sweep.h"

namespace csweep::analyses {

// Validates the request (validate_request) and returns its axes; throws csweep::Error
// "analysis: kind: ..." for a kind whose grid only the registry knows (pass axes to run_cells).
std::vector<GridAxis> grid_axes(const SweepRequest& request, const model::ModelConfig& config);

// run_cells / run_cells_plain over grid_axes(request).
std::vector<float> run_cells(const model::Model& model, const SweepRequest& request,
                             int64_t cell_begin, int64_t cell_end, CacheStore& caches);
std::vector<float> run_cells_plain(const model::Model& model, const SweepRequest& request,
                                   int64_t cell_begin, int64_t cell_end, CacheStore& caches);

}  // namespace csweep::analyses
