#pragma once
// The typed options of the kinds whose computation reads more than its grid (the worker maps
// them onto analyses' requests). Defaults here are the documented ones (docs/jobs.md); the
// readers fill every field, so nothing downstream supplies a default of its own.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "jobs/kinds/kind_registry.h"

namespace csweep::jobs {

struct ActivationPatchingOptions final : KindOptions {
  bool per_position = true;
  std::string direction = "denoising";  // denoising | noising
  nlohmann::json to_json() const override;
};

struct AttributionPatchingOptions final : KindOptions {
  bool per_position = true;
  bool qk_fix = false;
  nlohmann::json to_json() const override;
};

struct AblationOptions final : KindOptions {
  std::string method = "zero";                      // zero | mean | resample
  std::string mean_over = "prompts_and_positions";  // method mean only
  std::string target = "heads";                     // heads | mlp | layer | neuron
  std::string reference = "clean";                  // clean | corrupted
  int64_t seed = 0;
  std::vector<int64_t> neurons;  // target neuron only
  nlohmann::json to_json() const override;
};

struct CausalTracingOptions final : KindOptions {
  double noise_multiplier = 3.0;
  std::optional<double> noise_std;  // absolute; overrides the multiplier
  int64_t seed = 0;
  int64_t samples = 10;
  int64_t window = 1;
  std::string restore = "resid";  // resid | attn | mlp
  nlohmann::json to_json() const override;
};

struct LogitLensOptions final : KindOptions {
  std::vector<std::string> quantities;  // of kLensQuantities
  nlohmann::json to_json() const override;
};

struct DirectLogitAttributionOptions final : KindOptions {
  std::string components = "heads";  // heads | mlp | layer
  nlohmann::json to_json() const override;
};

struct AttentionScoresOptions final : KindOptions {
  std::vector<std::string> scores;  // of kAttentionScores
  nlohmann::json to_json() const override;
};

// steering: scale x a direction added at a residual-stream site (jobs/kinds/steering.cpp).
struct SteeringOptions final : KindOptions {
  std::string site = "hook_resid_post";  // of kSteeringSites
  std::vector<double> scales;            // in the job file's order (the scale axis)
  std::vector<std::string> quantities;   // of kSteeringQuantities
  bool normalize = false;                // unit L2 norm per layer
  // The direction: a file's tensor (values, row-major, [d_model] or [n_layers, d_model]) ...
  std::string file, tensor;  // file as written (resolved against the job file's folder)
  std::vector<int64_t> shape;
  std::vector<float> values;
  // ... or the mean difference of two sets of the job's prompts, {"clean", "corrupted"} or the
  // other way round: mean(first) - mean(second) at the last position ...
  std::vector<std::string> mean_difference;
  // ... or two sets picked by the prompts' `label` (clean prompts labelled labels[0] against
  // those labelled labels[1]): their mean difference, or with `probe` the weight of a ridge probe
  // telling the first set (target 1) from the second (0), fitted with penalty probe_l2.
  std::vector<double> labels;
  bool probe = false;
  double probe_l2 = 1e-2;
  nlohmann::json to_json() const override;
};

// probe: a linear probe per (site, layer, token) on the job's labelled prompts
// (jobs/kinds/probe.cpp); the sites are AnalysisSpec::sites.
struct ProbeOptions final : KindOptions {
  std::string target = "class";         // class (labels are class ids) | value (float targets)
  std::vector<int64_t> tokens = {-1};   // positions probed: >= 0 from the start, < 0 from the end
  double l2 = 1e-2;                     // ridge penalty, relative (docs/jobs.md)
  double held_out = 0.25;               // fraction of the prompts held out
  int64_t seed = 0;                     // the split and the control's label shuffle
  std::vector<std::string> quantities;  // of kProbeQuantities
  nlohmann::json to_json() const override;
};

// path_patching (jobs/kinds/path_patching.cpp): senders -> receivers' q/k/v inputs or logits.
struct PathPatchingOptions final : KindOptions {
  std::string senders = "heads";  // heads (attn.hook_z) | mlp (hook_mlp_out)
  struct Receiver {
    int64_t layer = 0, head = 0;
    std::string input;  // q | k | v
  };
  std::vector<Receiver> receivers;  // empty: the logits
  // `receivers: {chosen: [q, k, v], logits: true}`, a stage only (from:): the receivers are the
  // stage's chosen heads' inputs, one grid entry per chosen slot (top_k + plus_random) and input,
  // then the logits: path patching between the survivors of an earlier stage.
  std::vector<std::string> chosen_inputs;
  bool chosen_logits = false;
  int64_t chosen_slots = 0;
  std::string freeze = "heads";            // heads (MLPs recomputed) | heads_and_mlps
  std::string receiver_positions = "all";  // all | last: where the receivers' inputs are patched
  nlohmann::json to_json() const override;
};

// circuit_faithfulness (jobs/kinds/circuit_faithfulness.cpp): circuits of the first n ranked
// nodes, the rest of the universe ablated.
struct CircuitFaithfulnessOptions final : KindOptions {
  struct Node {
    int64_t layer = 0;
    int64_t head = -1;  // -1: the layer's MLP (hook_mlp_out)
  };
  std::vector<Node> nodes;     // ranked, most important first ("a1.h2", "m0")
  std::vector<double> scores;  // one per node (the drawn circuit's weights); empty: 1 each
  // universe edges: the ranked edges ("a0.h2->m1", nodes unused) and their edge_attribution grid
  // values (sender * receivers + receiver)
  std::vector<std::string> edges;
  std::vector<int64_t> edge_values;
  std::vector<int64_t> sizes;      // the node counts asked for (sizes, or fractions of the nodes)
  std::string ablation = "patch";  // patch | mean | zero
  std::string universe = "heads";  // heads | heads_and_mlps | edges
  int64_t universe_size = 0;       // nodes in the universe: the grid's last size (full model)
  double threshold = 0.8;          // the drawn circuit: the smallest with faithfulness >= this
  int64_t bootstrap = 1000;        // resamples of the prompts for the confidence intervals
  int64_t seed = 0;                // of the resampling
  nlohmann::json to_json() const override;
};
std::string circuit_node_label(const CircuitFaithfulnessOptions::Node& n);  // "a1.h2", "m0"
// Cell `grid_cell` of a node-ranking analysis's grid ([layer, head] of attn.hook_z, or [layer] of
// hook_mlp_out) as a node: what a circuit_faithfulness stage reads from its source.
CircuitFaithfulnessOptions::Node circuit_node_of(const AnalysisSpec& source, int64_t grid_cell);
// The name of a ranked source's cell in a circuit: its node ("a1.h2"), or an edge_attribution
// source's edge ("a0.h2->m1").
std::string circuit_item_label(const AnalysisSpec& source, int64_t grid_cell);

// edge_attribution (jobs/kinds/edge_attribution.cpp): EAP / EAP-IG over every edge.
struct EdgeAttributionOptions final : KindOptions {
  std::string method = "eap_ig";  // eap | eap_ig
  int64_t ig_steps = 5;           // eap: 1 (the clean run's gradient)
  // The model's graph, for the grid (read from config.json; the model hash covers it).
  int64_t layers = 0, heads = 0, kv_heads = 0;
  bool parallel_residual = false;
  nlohmann::json to_json() const override;
};
// Every edge of the model's graph: edge_attribution's grid axis (labels "embed->a1.h3.q").
Axis model_edges(const model::ModelConfig& c);

// In the analyses' enum order (analyses/sweep.h LensValue, PatternScore; analyses/steering.h
// SteeringQuantity): a named axis's values
// index these lists.
inline const std::vector<std::string> kLensQuantities = {"prob", "logprob", "rank", "logit_diff",
                                                         "top_token"};
inline const std::vector<std::string> kAttentionScores = {"previous_token", "duplicate_token",
                                                          "induction"};
inline const std::vector<std::string> kSteeringQuantities = {"metric", "kl", "top_token"};
inline const std::vector<std::string> kProbeQuantities = {"score", "control"};
inline const std::vector<std::string> kSteeringSites = {"hook_resid_pre", "hook_resid_mid",
                                                        "hook_resid_post"};

}  // namespace csweep::jobs
