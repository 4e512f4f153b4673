// Weight circuits: two kinds read from the weights alone (no forward pass, the same values for
// every prompt), computed in float64 in analyses/weight_circuits_cells.cpp.
//   head_circuits       [processing, score, layer, head]: each head's copying score (the full OV
//                       circuit's eigenvalues) and positional previous-token QK score;
//   composition_scores  [processing, composition, source_layer, source_head, layer, head]:
//                       Q-, K- and V-composition of every earlier head A (source_*) into every
//                       later head B, as TransformerLens's all_composition_scores (0 unless A's
//                       layer is before B's).
// `processing` (none | transformer_lens) is an axis so one job can compare the checkpoint's
// weights with TransformerLens's default processing (fold_ln, centring, folded value biases).
#include <algorithm>

#include "jobs/kinds/kind_reader.h"

namespace csweep::jobs {
namespace {

const std::vector<std::string> kProcessing = {"none", "transformer_lens"};
const std::vector<std::string> kHeadScores = {"copying", "previous_token"};
const std::vector<std::string> kCompositions = {"q", "k", "v"};

struct HeadCircuitsOptions final : KindOptions {
  std::vector<std::string> processing{"none"};
  std::vector<std::string> scores = kHeadScores;
  nlohmann::json to_json() const override {
    return {{"processing", processing}, {"scores", scores}};
  }
};

struct CompositionScoresOptions final : KindOptions {
  std::vector<std::string> processing{"none"};
  std::vector<std::string> compositions = kCompositions;
  nlohmann::json to_json() const override {
    return {{"processing", processing}, {"compositions", compositions}};
  }
};

bool has_positions(const model::ModelConfig* c) { return !c || c->learned_pos_embed; }

void read_head_circuits(KindReader& r, AnalysisSpec& a) {
  auto o = std::make_shared<HeadCircuitsOptions>();
  o->processing = r.choices("processing", kProcessing, {"none"});
  // A rotary model's QK circuit has no position-only part: by default it gets copying only.
  const std::vector<std::string> fallback =
      has_positions(r.config()) ? kHeadScores : std::vector<std::string>{"copying"};
  o->scores = r.choices("scores", kHeadScores, fallback);
  const bool wants_positions =
      std::find(o->scores.begin(), o->scores.end(), "previous_token") != o->scores.end();
  if (wants_positions && !has_positions(r.config()))
    r.error("scores",
            "previous_token needs learned positional embeddings (W_pos); this model's positions "
            "are rotary or absent, so its QK circuit has no position-only part");
  a.heads = r.n_heads_axis();  // query heads; under GQA each reads its group's KV head
  a.options = o;
}

void read_composition_scores(KindReader& r, AnalysisSpec& a) {
  auto o = std::make_shared<CompositionScoresOptions>();
  o->processing = r.choices("processing", kProcessing, {"none"});
  o->compositions = r.choices("compositions", kCompositions, kCompositions);
  a.heads = r.n_heads_axis();
  a.options = o;
}

std::vector<Axis> head_circuits_grid(const AnalysisSpec& a) {
  const auto& o = a.options_as<HeadCircuitsOptions>();
  return {named_axis("processing", o.processing, kProcessing),
          named_axis("score", o.scores, kHeadScores), index_axis("layer", a.layers),
          index_axis("head", a.heads)};
}

// Head A (source_layer, source_head) writes, head B (layer, head) reads: reduce draws B's
// [layer, head] grid in one panel per composition and source head.
std::vector<Axis> composition_scores_grid(const AnalysisSpec& a) {
  const auto& o = a.options_as<CompositionScoresOptions>();
  return {named_axis("processing", o.processing, kProcessing),
          named_axis("composition", o.compositions, kCompositions),
          index_axis("source_layer", a.layers),
          index_axis("source_head", a.heads),
          index_axis("layer", a.layers),
          index_axis("head", a.heads)};
}

// transformer_lens processing rewrites every attention matrix and the (un)embedding once.
double flops_of_processing(const std::vector<std::string>& processing,
                           const model::ModelConfig& c) {
  if (std::find(processing.begin(), processing.end(), "transformer_lens") == processing.end())
    return 0.0;
  return 4.0 * static_cast<double>(c.n_layers * c.d_q() * c.d_model + c.d_vocab * c.d_model);
}

// copying: W_Uᵀ·W_E (d_model × d_model, 2·vocab·d² over vocab chunks) once, then per head a
// d_head × d_head product (2·d_head·d·(d + d_head)) and its eigenvalues (~10·d_head³).
// previous_token: the n_ctx positional queries and keys (4·n_ctx·d·d_head) and the
// n_ctx × n_ctx scores (2·n_ctx²·d_head).
KindCost head_circuits_cost(const AnalysisSpec& a, const model::ModelConfig& c) {
  const auto& o = a.options_as<HeadCircuitsOptions>();
  const double d = static_cast<double>(c.d_model), dh = static_cast<double>(c.d_head);
  const double vocab = static_cast<double>(c.d_vocab), ctx = static_cast<double>(c.n_ctx);
  const double heads = static_cast<double>(a.layers.size() * a.heads.size());
  double per_variant = 0.0;
  for (const auto& s : o.scores)
    per_variant += s == "copying" ? 2.0 * vocab * d * d +
                                        heads * (2.0 * dh * d * (d + dh) + 10.0 * dh * dh * dh)
                                  : heads * (4.0 * ctx * d * dh + 2.0 * ctx * ctx * dh);
  KindCost cost;
  cost.prompt_forwards = 0.0;
  cost.prompt_other_flops =
      static_cast<double>(o.processing.size()) * per_variant + flops_of_processing(o.processing, c);
  cost.pass_memory = PassMemory::WeightsOnly;
  return cost;
}

// Per head: three d_head × d_head Gram matrices (2·d_head²·d each); per (A, B) pair and
// composition: the d_head × d_head cross product (2·d_head²·d) and two d_head³ products.
KindCost composition_scores_cost(const AnalysisSpec& a, const model::ModelConfig& c) {
  const auto& o = a.options_as<CompositionScoresOptions>();
  const double d = static_cast<double>(c.d_model), dh = static_cast<double>(c.d_head);
  const double heads = static_cast<double>(a.layers.size() * a.heads.size());
  const double pairs = heads * heads * static_cast<double>(o.compositions.size());
  KindCost cost;
  cost.prompt_forwards = 0.0;
  cost.prompt_other_flops =
      static_cast<double>(o.processing.size()) *
          (heads * 4.0 * 2.0 * dh * dh * d + pairs * (2.0 * dh * dh * d + 4.0 * dh * dh * dh)) +
      flops_of_processing(o.processing, c);
  cost.pass_memory = PassMemory::WeightsOnly;
  return cost;
}

Kind weight_kind(const char* name, std::vector<std::string> keys) {
  Kind k;
  k.name = name;
  k.keys = std::move(keys);
  k.uses_metric = false;
  return k;
}

}  // namespace

const Kind& head_circuits_kind() {
  static const Kind k = [] {
    Kind k = weight_kind("head_circuits", {"processing", "scores", "heads"});
    k.read = read_head_circuits;
    k.grid = head_circuits_grid;
    k.cost = head_circuits_cost;
    k.reduce.colour_scale = ColourScale::Diverging;  // copying scores lie in [-1, 1]
    k.reduce.value_label = "score";
    return k;
  }();
  return k;
}

const Kind& composition_scores_kind() {
  static const Kind k = [] {
    Kind k = weight_kind("composition_scores", {"processing", "compositions", "heads"});
    k.read = read_composition_scores;
    k.grid = composition_scores_grid;
    k.cost = composition_scores_cost;
    k.reduce.colour_scale = ColourScale::Sequential;
    k.reduce.value_label = "composition score";
    return k;
  }();
  return k;
}

}  // namespace csweep::jobs
