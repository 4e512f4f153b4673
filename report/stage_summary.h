#pragma once
// How well a stage's source ranked the cells (`from:`, docs/jobs.md "Stages"): the source's
// estimate beside the stage's exact effect for each chosen cell, and AtP*'s check on what the
// ranking missed: the random draw's cells whose exact |effect| reaches the weakest of the top
// cells', scaled to every cell the ranking passed over, estimate how many strong cells the
// top_k left out.
#include <ostream>
#include <string>
#include <vector>

#include "report/h5_write.h"
#include "report/reduce_input.h"

namespace csweep::report {

struct StageSummary {
  std::vector<std::string> labels;  // per chosen source cell: its strongest stage cell's label
  std::vector<double> estimate;     // the source's mean effect
  std::vector<double> exact;        // the stage's mean effect at that cell (NaN: not done)
  double threshold = 0.0;           // the smallest exact |effect| among the top cells
  int64_t random = 0, random_above = 0;
  double false_negatives = 0.0;  // random_above / random x (ranked - top_k); 0 without a draw
};

bool is_stage(const AnalysisInput& a);
StageSummary stage_summary(const AnalysisInput& a);
void write_stage_h5(const h5::Writer& w, hid_t group, const AnalysisInput& a);
void write_stage_html(std::ostream& o, const AnalysisInput& a);

}  // namespace csweep::report
