#pragma once
// report.html's interactive views: the data each one needs, as JSON inside the page, and the
// script that draws them (report/report.js, embedded at build time). A heatmap's JSON holds
// the aggregates and, within a size budget, every prompt's values, so the page can switch
// between the mean and one prompt without a server.
#include <ostream>
#include <string>

#include "report/aggregate.h"
#include "report/attention_patterns.h"
#include "report/reduce_input.h"

namespace csweep::report {

// Per-prompt values embedded per analysis at most (prompts x cells); past it the page offers
// the first prompts that fit and says how many it left out (all are in sweep.h5).
constexpr int64_t kMaxEmbeddedValues = 400000;

// The heatmap's data: axes with labels (position labels per embedded prompt), which axes are
// rows/columns/selectors, the mean, sem, n, fraction and per-prompt values.
std::string heatmap_json(const ReduceInput& input, const AnalysisInput& analysis,
                         const Aggregates& agg);
std::string patterns_json(const AttentionPatterns& patterns);

// `<div class="csw-heatmap">` / `<div class="csw-patterns">` with the JSON inside.
void write_interactive_heatmap(std::ostream& o, const ReduceInput& input,
                               const AnalysisInput& analysis, const Aggregates& agg);
void write_pattern_view(std::ostream& o, const AttentionPatterns& patterns);

// The page's script and its styles (report.js, inlined by CMake).
const std::string& report_script();
const char* interactive_style();

}  // namespace csweep::report
