#pragma once
// The worker's entry point: one analysis over one prompt pair, as a grid of cells.
// A cell is one intervention (or one read-out) and yields one float; cells are numbered
// row-major over grid_axes(), so a shard is just a range [cell_begin, cell_end).
// Plain structs only: jobs/ maps a JobSpec's AnalysisSpec + PromptPair onto a SweepRequest.
//
// Grids (axes in this order; an axis exists only where it says so):
//   Patching / Ablation / AttributionPatching at a block site:
//     head sites (attn.hook_q|k|v|z|rot_q|rot_k|pattern|attn_scores):
//         by_position ? [layer, pos, head] : [layer, head]      (k/v: head = KV head under GQA)
//     other sites: neurons given ? [layer, (pos,) neuron] : by_position ? [layer, pos] : [layer]
//   Patching at a global site (hook_embed, hook_pos_embed, ln_final.*): by_position ? [pos] : [] (1 cell)
//   Ablation at hook_resid_post ablates the whole block (attn_out and mlp_out together).
//   CausalTracing:   [layer, pos]   restore the clean `point` (resid_post, attn_out or mlp_out)
//   LogitLens:       [layer]        the answer's prob / logprob / rank / logit_diff at resid_post
//   DirectLogitAttribution: attn.hook_z -> [layer, head]; hook_attn_out / hook_mlp_out -> [layer];
//                    hook_resid_post -> [layer] (attn + mlp of the block)
//   AttentionScores: [layer, head]  previous-token / duplicate-token / induction score
// layers/heads/positions select a subset (empty = all; negative positions count from the end).
#include <cstdint>
#include <string>
#include <vector>

#include "analyses/batched_runner.h"
#include "analyses/metrics.h"
#include "analyses/run_cache.h"
#include "model/hook_site.h"
#include "model/model.h"

namespace csweep::analyses {

enum class AnalysisKind {
  Patching,                // activation patching (TransformerLens generic_activation_patch)
  Ablation,                // zero / mean / resample ablation on the clean run
  CausalTracing,           // Meng et al. 2022: noised subject, restore clean states
  LogitLens,
  DirectLogitAttribution,
  AttentionScores,
  AttributionPatching,     // gradient estimate of Patching (Nanda 2023; AtP*)
};
const char* analysis_kind_name(AnalysisKind kind);     // "patching", "ablation", ...
AnalysisKind parse_analysis_kind(const std::string&);  // throws csweep::Error

// Denoising: run the corrupted prompt, copy in the clean run's activations (TL's default).
// Noising: run the clean prompt, copy in the corrupted run's activations.
enum class Direction { Denoising, Noising };
enum class AblationMode { Zero, Mean, Resample };
enum class LensValue { Prob, LogProb, Rank, LogitDiff, TopToken };  // Rank: 0 = top-1; TopToken: its id
enum class PatternScore { PreviousToken, DuplicateToken, Induction };

struct SweepRequest {
  AnalysisKind kind = AnalysisKind::Patching;
  model::HookPoint point = model::HookPoint::ResidPre;
  std::vector<int64_t> layers, heads, positions, neurons;
  bool by_position = true;  // false: the slice is edited at every position at once
  Direction direction = Direction::Denoising;
  MetricKind metric = MetricKind::LogitDiff;
  std::vector<AnswerPair> answers;             // several pairs are averaged
  std::vector<int64_t> clean_tokens;           // the prompt (the only one for ablation/lens/DLA)
  std::vector<int64_t> corrupted_tokens;       // same length as clean_tokens (patching, AtP)

  // Ablation
  AblationMode ablation = AblationMode::Zero;
  std::vector<std::vector<int64_t>> reference_prompts;  // mean / resample pool, same length
  // Causal tracing
  std::vector<int64_t> subject_positions;  // noised token positions
  double noise_std = 0.0;                  // 0: 3 x std(W_E)
  int64_t window = 1;                      // layers restored around each layer (attn/mlp: 10 in ROME)
  // Logit lens / attention scores
  LensValue lens_value = LensValue::Prob;
  PatternScore pattern_score = PatternScore::PreviousToken;
  int64_t induction_length = 20;  // random tokens repeated twice
  // Attribution patching
  bool atp_qk_fix = false;  // AtP*: exact recomputation of the softmax for q/k sites

  uint64_t seed = 0;  // resample / noise / random tokens
  BatchOptions batch;
};

struct GridAxis {
  std::string name;             // "layer", "pos", "head", "neuron"
  std::vector<int64_t> values;  // the layer / position / head / neuron index of each entry
  int64_t size() const { return static_cast<int64_t>(values.size()); }
};

// Validates the request against the model (throws csweep::Error "analysis: FIELD: reason").
void validate_request(const SweepRequest& request, const model::ModelConfig& config);
std::vector<GridAxis> grid_axes(const SweepRequest& request, const model::ModelConfig& config);
int64_t grid_cells(const std::vector<GridAxis>& axes);  // product of sizes (1 for no axis)

// One float per cell in [cell_begin, cell_end), computed with the fast path.
std::vector<float> run_cells(const model::Model& model, const SweepRequest& request,
                             int64_t cell_begin, int64_t cell_end, CacheStore& caches);
// The same cells, one plain full forward per cell (the reference for tests and benchmarks).
std::vector<float> run_cells_plain(const model::Model& model, const SweepRequest& request,
                                   int64_t cell_begin, int64_t cell_end, CacheStore& caches);

// The metric of the unedited runs, for reduce's fraction recovered: `clean` is the clean
// prompt's run; `corrupted` is the corrupted prompt's run (patching in both directions, AtP),
// the noised run (causal tracing), or the clean run again when the analysis has no corrupted run.
struct Baselines {
  double clean = 0.0;
  double corrupted = 0.0;
};
Baselines baselines(const model::Model& model, const SweepRequest& request, CacheStore& caches);

}  // namespace csweep::analyses
