#pragma once
// Which heatmaps an analysis gets, from its axis names: rows = "layer" (else the first axis),
// columns = "head" (else "position", else the next axis), and every other axis becomes small
// multiples (layer x head x position -> one layer x head panel per position). Position
// labels are the prompt's token strings.
#include <vector>

#include "report/aggregate.h"
#include "report/heatmap.h"
#include "report/reduce_input.h"

namespace csweep::report {

// The mean metric over prompts (colour limit from the data) and, when the analysis has
// baselines, the fraction recovered (fixed limit 1, so it compares across analyses).
std::vector<HeatmapFigure> analysis_figures(const ReduceInput& input, const AnalysisInput& analysis,
                                            const Aggregates& agg);

// Token strings labelling a position axis: the first prompt's tokens at the axis's positions
// (every prompt's tokens are in sweep.h5), "i:token" so repeated tokens stay distinct. Falls
// back to the index where the prompt is shorter or has no tokens.
std::vector<std::string> position_labels(const ReduceInput& input, const AxisInfo& axis);

// Whose tokens position_labels shows, for the axis title: " (tokens of all N prompts)" when
// every prompt has the same tokens at the axis's positions, " (tokens of prompt ID; the
// prompts' tokens differ)" when they do not, "" when there are no tokens.
std::string position_tokens_owner(const ReduceInput& input, const AxisInfo& axis);
bool position_tokens_differ(const ReduceInput& input, const AxisInfo& axis);

}  // namespace csweep::report
