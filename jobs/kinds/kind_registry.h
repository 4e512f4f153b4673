#pragma once
// The analysis-kind registry: one row per kind owns everything torch-free about it — its
// name, its typed options and their YAML reader, its ONE grid (axes, labels, cell order),
// its cost-model inputs and its reduce defaults. jobs/ reads job files through it, sharding/
// plans over its grid, worker/ computes over the plan's copy of that grid, report/ draws with
// its defaults. The computation itself lives in analyses/ (see docs/extending.md).
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "model/config.h"

namespace csweep::jobs {

struct AnalysisSpec;
class KindReader;

// One axis of an analysis's per-prompt result array (row-major over the grid's axes).
struct Axis {
  std::string name;  // "layer", "head", "pos", "site", "neuron", "quantity", "score"
  int64_t size = 0;
  std::vector<std::string> labels;  // one per entry: "0", "3", "attn.hook_z", "prob", ...
  // The model index of each entry (layer 5, head 2, ...); for named entries the index of the
  // label in the kind's list of choices (the analyses' enum order), for sites the HookPoint.
  std::vector<int64_t> values;
};
Axis index_axis(const std::string& name, const std::vector<int64_t>& values);
Axis named_axis(const std::string& name, const std::vector<std::string>& labels,
                const std::vector<std::string>& choices);

// A kind's options after reading, defaults resolved. Each kind derives its own struct.
struct KindOptions {
  virtual ~KindOptions() = default;
  virtual nlohmann::json to_json() const = 0;  // what the canonical hash sees
};

// One-pass kinds: what one pass over a prompt keeps in memory.
enum class PassMemory { RowAndCache, Backward, WeightsOnly };

// Cost-model inputs (sharding/cost_model.h turns them into FLOPs and bytes).
struct KindCost {
  bool per_cell_forward = false;  // one patched row per cell (else one pass per prompt)
  int64_t rows_per_cell = 1;      // batch rows one cell needs (causal tracing: noise samples)
  int64_t start_layer_back = 0;   // a cell at layer L restarts at L - this (causal-tracing windows)
  // Work per prompt shared by its shards: whole single-row forwards, one batched forward of
  // extra rows (causal tracing's noised run), and anything else in FLOPs.
  double prompt_forwards = 2.0;
  int64_t prompt_batch_rows = 0;
  double prompt_other_flops = 0.0;
  PassMemory pass_memory = PassMemory::RowAndCache;
};

// Which unedited runs' metrics the workers record and how reduce reads them.
enum class Baselines {
  None,      // no corrupted run: no fraction recovered
  Fraction,  // effect = value - corrupted; fraction recovered (value - corrupted) / (clean -
             // corrupted)
  Effects,   // values are indirect effects: clean - noised over 0 (causal tracing)
  Ablation,  // values are the edited clean run's metric: effect = value - clean; the fraction of
             // the clean metric removed (clean - value) / clean
};
enum class ColourScale { Diverging, Sequential };  // sequential: non-negative values from 0

// How top-k orders the components on one quantity.
enum class Ranking {
  Magnitude,  // largest |effect| first
  Smallest,   // smallest value first (a rank: 0 is the top)
  Never,      // not ranked (token ids)
};

// One entry of a kind's quantity axis (logit lens: prob, rank, top_token, ...): entries with
// different units never share a colour scale or a top-k ranking.
struct QuantityDefaults {
  std::string name;         // the axis label, as in the job file
  std::string value_label;  // units for the colour bar; "{metric}" stands for the job's metric
  ColourScale colour_scale = ColourScale::Diverging;
  Ranking ranking = Ranking::Magnitude;
  bool token_ids = false;  // values are token ids: shown as text, never averaged or coloured
};

struct ReduceDefaults {
  Baselines baselines = Baselines::None;
  ColourScale colour_scale = ColourScale::Diverging;
  // The colour bar's label; "{metric}" stands for the job's metric. Empty: the job's metric.
  std::string value_label;
  // The axis whose entries are different quantities ("quantity", "score"): each gets its own
  // figure, colour scale, units and top-k list. Empty: all cells share one.
  std::string quantity_axis;
  std::vector<QuantityDefaults> quantities;  // one per choice of that axis
};

struct Kind {
  std::string name;               // as written in job files
  std::vector<std::string> keys;  // YAML keys it takes besides name, kind and layers
  bool uses_metric = true;        // its prompts need answers (the job's metric)
  // Runs a backward pass: refused with model.tensor_parallel > 1, since autograd does not run
  // through the collectives (docs/tensor-parallel.md).
  bool needs_gradients = false;
  // One shard item covers the whole prompt set (probes: a cell fits over every prompt): the plan
  // gives the analysis shards of its first prompt only, the worker's request carries every
  // prompt, and the store holds the set's result in that prompt's row (docs/analyses.md).
  bool whole_prompt_set = false;
  // Reads the kind's keys into `a` (axes, sites, options) through `r`, which reports
  // file:line:column errors; a failed read leaves r.ok() false.
  void (*read)(KindReader& r, AnalysisSpec& a) = nullptr;
  std::vector<Axis> (*grid)(const AnalysisSpec& a) = nullptr;
  KindCost (*cost)(const AnalysisSpec& a, const model::ModelConfig& c) = nullptr;
  ReduceDefaults reduce;
};

const std::vector<const Kind*>& all_kinds();     // in docs/jobs.md order
const Kind* find_kind(const std::string& name);  // null when unknown
const Kind& kind(const std::string& name);       // throws csweep::Error when unknown
std::vector<std::string> kind_names();
inline const std::string& kind_name(const Kind* k) { return k->name; }

}  // namespace csweep::jobs
