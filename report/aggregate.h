#pragma once
// Statistics over prompts for one analysis. Only prompts whose cell is done count; a cell no
// prompt has finished is NaN everywhere. std is the sample standard deviation (ddof = 1) and
// sem = std / sqrt(n), both NaN where fewer than two prompts are done.
#include <cstdint>
#include <string>
#include <vector>

#include "report/reduce_input.h"

namespace csweep::report {

struct Aggregates {
  std::vector<float> mean, std, sem;  // [cells]; a token-id quantity's "mean" is its mode
  std::vector<int32_t> n_done;        // [cells]: prompts counted in each cell
  // The mean change each cell makes, measured from the analysis's reference run over the
  // prompts that have its baseline (patching: value - corrupted; ablation: value - clean;
  // causal tracing's values are already effects); the mean where there are no baselines.
  std::vector<float> effect;  // [cells]
  bool has_effect_baseline = false;
  // Present only when the analysis has its baselines and the job normalises (reduce.normalise):
  // patching's fraction recovered (mean patched - mean corrupted) / (mean clean - mean
  // corrupted), or ablation's fraction of the clean metric removed (mean clean - mean ablated)
  // / mean clean, over the prompts done at c that have the baselines (a ratio of means, as in
  // the TransformerLens tutorials: robust to prompts whose gap is tiny); per prompt the same
  // ratio of that prompt's numbers. fraction_name/fraction_label say which.
  bool has_fraction = false;
  std::vector<float> fraction_recovered;                // [cells]
  std::vector<std::vector<float>> fraction_per_prompt;  // [n_prompts][cells]
  int64_t cells_done = 0, cells_total = 0;              // over prompts x cells
};

Aggregates aggregate(const AnalysisInput& analysis, bool normalise = true);

// The fraction's dataset name in sweep.h5 ("fraction_recovered", "fraction_of_clean_removed"),
// its label ("fraction recovered") and its definition.
std::string fraction_name(const AnalysisInput& analysis);
std::string fraction_label(const AnalysisInput& analysis);
std::string fraction_formula(const AnalysisInput& analysis);
// What the effect is ("value - corrupted baseline") and how top-k ranks it.
std::string effect_formula(const AnalysisInput& analysis, const Aggregates& agg);
std::string ranked_by(const AnalysisInput& analysis, const Aggregates& agg);

// One row of the top-k table: a cell of the grid and its effect.
struct TopComponent {
  int64_t cell = 0;
  std::vector<int64_t> index;                       // one index per axis
  std::string label;                                // e.g. "layer 3, head 5"
  float effect = 0;                                 // Aggregates::effect at the cell
  float mean = 0, sem = 0, fraction_recovered = 0;  // fraction is NaN without baselines
  int32_t n_done = 0;
};

// The k cells with the largest |effect| (NaN cells never rank), largest first; ties keep
// row-major order so the table is deterministic. With a quantity axis, k per ranked quantity
// (each quantity's own order; token ids never), quantities in axis order.
std::vector<TopComponent> top_components(const AnalysisInput& analysis, const Aggregates& agg,
                                         int k);

// Mean corrupted baseline over the prompts that have one (NaN if none): the reference that
// an effect is measured from.
double mean_corrupted_baseline(const AnalysisInput& analysis);
double mean_clean_baseline(const AnalysisInput& analysis);

// Row-major cell index -> one index per axis.
std::vector<int64_t> unravel(int64_t cell, const std::vector<AxisInfo>& axes);
std::string axis_label(const AxisInfo& axis, int64_t i);  // labels[i] or the index

}  // namespace csweep::report
