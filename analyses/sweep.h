#pragma once
// The worker's entry point: one analysis over one prompt pair, as a grid of cells.
// A cell is one intervention (or one read-out) and yields one float; cells are numbered
// row-major over the grid's axes, so a shard is just a range [cell_begin, cell_end).
// Plain structs only: jobs/ maps a JobSpec's AnalysisSpec + PromptPair onto a SweepRequest.
//
// Grids, as the analysis-kind registry defines them (jobs/kinds/; axes in this order, an axis
// exists only where it says so):
//   activation_patching / ablation / attribution_patching at a block site:
//     head sites (attn.hook_q|k|v|z|rot_q|rot_k|pattern|attn_scores):
//         by_position ? [layer, pos, head] : [layer, head]      (k/v: head = KV head under GQA)
//     other sites: neurons given ? [layer, (pos,) neuron] : by_position ? [layer, pos] : [layer]
//   activation_patching at a global site (hook_embed, hook_pos_embed, ln_final.*):
//     by_position ? [pos] : [] (1 cell)
//   activation_patching / attribution_patching with several `sites`: a leading [site] axis, then
//     the grid above (all sites must have the same head axis, e.g. {q, k, v, z} or
//     {attn_out, mlp_out})
//   ablation at hook_resid_post ablates the whole block (attn_out and mlp_out together).
//   causal_tracing:  [layer, pos]   restore the clean `point` (resid_post, attn_out or mlp_out)
//   logit_lens:      [layer, quantity]  each of lens_values (prob, logprob, rank, logit_diff,
//                                       top_token) of the answer at resid_post
//   direct_logit_attribution: attn.hook_z -> [layer, head]; hook_attn_out / hook_mlp_out ->
//                    [layer]; hook_resid_post -> [layer] (attn + mlp of the block)
//   attention_scores: [score, layer, head]  each of pattern_scores (previous-token,
//                                       duplicate-token, induction)
//   steering:        [layer, (pos,) scale, quantity]  the metric, KL(clean || steered) and the
//                                       top token at the last position (analyses/steering.h)
//   probe:           [site, layer, token, quantity]  held-out accuracy / R² of a ridge probe and
//                                       of its shuffled-label control (analyses/probe.h); the
//                                       request carries the whole labelled prompt set
//   path_patching:   [layer, (pos,) head] (senders attn.hook_z) or [layer, (pos)] (hook_mlp_out)
//   edge_attribution: [edge]  every sender -> receiver edge (values: sender * receivers +
//                                       receiver, edge_attribution_cells.cpp)
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

// Denoising: run the corrupted prompt, copy in the clean run's activations (TL's default).
// Noising: run the clean prompt, copy in the corrupted run's activations.
enum class Direction { Denoising, Noising };
enum class AblationMode { Zero, Mean, Resample };
enum class LensValue {
  Prob,
  LogProb,
  Rank,
  LogitDiff,
  TopToken
};  // Rank: 0 = top-1; TopToken: its id
enum class PatternScore { PreviousToken, DuplicateToken, Induction };

// Names as in job files; parse_* throw csweep::Error "analysis: FIELD: unknown ...".
const char* lens_value_name(LensValue v);  // "prob", "logprob", "rank", "logit_diff", "top_token"
LensValue parse_lens_value(const std::string&);
const char* pattern_score_name(PatternScore s);  // "previous_token", "duplicate_token", "induction"
PatternScore parse_pattern_score(const std::string&);
Direction parse_direction(const std::string&);         // "denoising", "noising"
AblationMode parse_ablation_mode(const std::string&);  // "zero", "mean", "resample"

struct SweepRequest {
  // The analysis kind's one identity, its name in the registry (jobs/kinds/): the computation
  // registered under it (KindCellsRegistration) computes the cells.
  std::string kind = "activation_patching";
  model::HookPoint point = model::HookPoint::ResidPre;
  std::vector<model::HookPoint> sites;  // Patching/AtP: several sites -> a leading site axis
  std::vector<int64_t> layers, heads, positions, neurons;
  bool by_position = true;  // false: the slice is edited at every position at once
  Direction direction = Direction::Denoising;
  MetricKind metric = MetricKind::LogitDiff;
  std::vector<AnswerPair> answers;        // several pairs are averaged
  std::vector<int64_t> clean_tokens;      // the prompt (the only one for ablation/lens/DLA)
  std::vector<int64_t> corrupted_tokens;  // same length as clean_tokens (patching, AtP)

  // Ablation
  AblationMode ablation = AblationMode::Zero;
  std::vector<std::vector<int64_t>> reference_prompts;  // mean / resample pool, same length
  // Mean ablation: one mean per position over the reference prompts, instead of
  // TransformerLens's one mean over prompts and positions.
  bool mean_per_position = false;
  // Causal tracing
  std::vector<int64_t> subject_positions;  // noised token positions
  double noise_std = 0.0;                  // 0: noise_multiplier x std(W_E)
  double noise_multiplier = 3.0;
  int64_t samples = 1;  // noise draws (seed, seed+1, ...) averaged per cell
  int64_t window = 1;   // layers restored around each layer (attn/mlp: 10 in ROME)
  // Logit lens / attention scores
  std::vector<LensValue> lens_values{LensValue::Prob};
  std::vector<PatternScore> pattern_scores{PatternScore::PreviousToken};
  int64_t induction_length = 20;  // random tokens repeated twice
  // Attribution patching
  bool atp_qk_fix = false;  // AtP*: exact recomputation of the softmax for q/k sites
  // Edge attribution (edge_attribution_cells.cpp): gradients averaged over this many runs with
  // the input interpolated from the corrupted to the clean prompt (EAP-IG); 1 = EAP.
  int64_t ig_steps = 1;
  // Steering: each cell adds scale x direction at `point` (hook_resid_pre|mid|post) of its layer
  // (at its position, or at every position when the grid has no pos axis); the grid's scale
  // axis values index `scales`.
  struct Steering {
    std::vector<double> scales;
    at::Tensor direction;  // [d_model] (every layer) or [n_layers, d_model]; undefined: the mean
                           // difference of `plus` and `minus` at the last position
    std::vector<std::vector<int64_t>> plus, minus;  // prompt sets (token ids)
    bool normalize = false;                         // unit L2 norm per layer
    // > 0: instead of the mean difference, the weight of a ridge probe (analyses/probe.h, this
    // penalty) fitted per layer on the last position to tell `plus` (1) from `minus` (0).
    double probe_l2 = 0.0;
  } steering;
  // Probe: every prompt of the set with its label (one request covers the whole set); the grid's
  // token axis values are positions (negative: from the end of each prompt).
  struct Probe {
    std::vector<std::vector<int64_t>> prompts;
    std::vector<double> labels;  // class ids (classes) or float targets
    bool classes = true;
    double l2 = 1e-2;        // ridge penalty: λ = l2 · n · mean feature variance (probe.h)
    double held_out = 0.25;  // fraction of the prompts held out (seeded by `seed`)
  } probe;

  // SAE feature kinds (analyses/sae_feature_cells.cpp): the SAELens SAE folder; its cfg.json
  // names the site, the grid [feature, pos] the features and positions.
  std::string sae;
  // Path patching (path_patching_cells.cpp): the senders are `point` (attn.hook_z heads or
  // hook_mlp_out) of the grid's cells; each cell's value is the metric of the clean run with the
  // receivers' inputs patched from the run where the sender is corrupted and every other head
  // (and, with freeze_mlps, MLP) is frozen at the clean run.
  struct PathReceiver {
    model::HookPoint input = model::HookPoint::AttnQ;  // attn.hook_q | hook_k | hook_v
    int64_t layer = 0;
    int64_t head = 0;  // a query head for q; a KV head for k/v (the same under no GQA)
  };
  struct PathPatching {
    std::vector<PathReceiver> receivers;  // empty: the logits (the final residual stream)
    bool freeze_mlps = false;             // false: MLPs recomputed (ARENA); true: frozen too
    bool last_position = false;           // receivers' inputs patched at the last position only
    // Non-empty: each cell's own receiver, indexed by the grid's receiver axis (path patching
    // between a stage's chosen heads); layer -1 is the logits. `receivers` is then unused.
    std::vector<PathReceiver> by_cell;
  } path;
  // Circuit faithfulness (circuit_faithfulness_cells.cpp): the grid's size axis values are node
  // counts n; a cell is the metric of the clean run with every node of the universe (every
  // attn.hook_z head, and with `mlps` every hook_mlp_out) that is not among ranked[0, n) ablated
  // in one forward. n >= the universe's size is the full model (nothing ablated). A job file
  // writes `ranked` by hand (circuit_faithfulness's `nodes`); a stage may fill it from an
  // earlier analysis's ordered cells.
  struct CircuitNode {
    model::HookPoint point = model::HookPoint::AttnZ;  // attn.hook_z (a head) | hook_mlp_out
    int64_t layer = 0;
    int64_t head = -1;  // attn.hook_z: the head; -1 for hook_mlp_out
    int64_t pos = -1;   // -1: every position; else the node is the component at this position
  };
  enum class CircuitAblation { Patch, Mean, Zero };  // patch: the corrupted run's activations
  struct Circuit {
    std::vector<CircuitNode> ranked;  // most important first
    bool mlps = false;                // the universe: every head, and every MLP when true
    CircuitAblation ablation = CircuitAblation::Patch;  // mean: over reference_prompts
    // A circuit of edges (universe edges; `ranked` and `mlps` unused): the ranked edges, most
    // important first, as edge_attribution's grid values (sender * receivers + receiver); the
    // size axis counts edges, and every edge outside the first n reads its ablated sender.
    bool over_edges = false;
    std::vector<int64_t> edges;
  } circuit;

  uint64_t seed = 0;  // resample / noise / random tokens
  BatchOptions batch;
};

struct GridAxis {
  std::string name;  // "site", "layer", "pos", "head", "neuron", "quantity", "score", "receiver"
  std::vector<int64_t> values;      // the layer / position / head / neuron index of each entry
                                    // (site: the HookPoint; quantity/score: the enum value)
  std::vector<std::string> labels;  // site / quantity / score names (empty for index axes)
  // A stage's "candidate" axis (docs/jobs.md, Stages): each value is one cell of the grid
  // `within` (the kind's own grid), so a shard computes exactly the cells chosen for it.
  std::vector<GridAxis> within;
  int64_t size() const { return static_cast<int64_t>(values.size()); }
};

// Validates the request against the model (throws csweep::Error "analysis: FIELD: reason").
void validate_request(const SweepRequest& request, const model::ModelConfig& config);
int64_t grid_cells(const std::vector<GridAxis>& axes);  // product of sizes (1 for no axis)

// One float per cell in [cell_begin, cell_end) of `axes`, the grid the caller owns: the
// worker passes its plan's grid (the analysis kind's one grid, jobs/kinds/); tests and benches
// build it for a hand-written request with tests/analyses/request_grid.h. Computed with the fast
// path by the cells function registered under request.kind.
std::vector<float> run_cells(const model::Model& model, const SweepRequest& request,
                             const std::vector<GridAxis>& axes, int64_t cell_begin,
                             int64_t cell_end, CacheStore& caches);
// The same cells, one plain full forward per cell (the reference for tests and benchmarks).
std::vector<float> run_cells_plain(const model::Model& model, const SweepRequest& request,
                                   const std::vector<GridAxis>& axes, int64_t cell_begin,
                                   int64_t cell_end, CacheStore& caches);
// Every analysis kind computes its cells with a function of the model, the prompt's request and
// the plan's grid, registered under the registry's name of the kind from the kind's own file in
// analyses/ (docs/extending.md): static const KindCellsRegistration r("weight_norms", fn);
// run_cells finds it by request.kind. The request's batch.plain asks for the reference path.
using KindCells = std::vector<float> (*)(const model::Model& model, const SweepRequest& request,
                                         const std::vector<GridAxis>& axes, int64_t cell_begin,
                                         int64_t cell_end, CacheStore& caches);
struct KindCellsRegistration {
  KindCellsRegistration(const char* kind, KindCells cells);
};
KindCells find_kind_cells(const std::string& kind);  // null when the kind registered none

// The metric of the unedited runs, for reduce's fraction recovered: `clean` is the clean
// prompt's run; `corrupted` is the corrupted prompt's run (patching in both directions, AtP),
// the noised run (causal tracing), or the clean run again when the analysis has no corrupted run.
struct Baselines {
  double clean = 0.0;
  double corrupted = 0.0;
};
Baselines baselines(const model::Model& model, const SweepRequest& request, CacheStore& caches);

}  // namespace csweep::analyses
