// attention_scores: per-head previous-token, duplicate-token and induction scores.
#include "jobs/kinds/kind_options.h"
#include "jobs/kinds/kind_reader.h"

namespace csweep::jobs {
namespace {

void read_attention_scores(KindReader& r, AnalysisSpec& a) {
  auto o = std::make_shared<AttentionScoresOptions>();
  o->scores = r.choices("scores", kAttentionScores, kAttentionScores);
  a.heads = r.n_heads_axis();
  a.options = o;
}

}  // namespace

nlohmann::json AttentionScoresOptions::to_json() const { return {{"scores", scores}}; }

const Kind& attention_scores_kind() {
  static const Kind k = [] {
    Kind k;
    k.name = "attention_scores";
    k.keys = {"scores", "heads"};
    k.uses_metric = false;
    k.read = read_attention_scores;
    // No metric: each score is an attention weight in [0, 1], ranked on its own.
    k.reduce.colour_scale = ColourScale::Sequential;
    k.reduce.value_label = "attention score (mean attention weight)";
    k.reduce.quantity_axis = "score";
    k.reduce.quantities = {
        {"previous_token", "previous-token score (attention to position - 1)",
         ColourScale::Sequential},
        {"duplicate_token", "duplicate-token score (attention to earlier copies)",
         ColourScale::Sequential},
        {"induction", "induction score (attention to the token after an earlier copy)",
         ColourScale::Sequential},
    };
    k.grid = [](const AnalysisSpec& a) {  // [score, layer, head]
      return std::vector<Axis>{
          named_axis("score", a.options_as<AttentionScoresOptions>().scores, kAttentionScores),
          index_axis("layer", a.layers), index_axis("head", a.heads)};
    };
    k.cost = [](const AnalysisSpec&, const model::ModelConfig&) {
      KindCost cost;
      cost.prompt_forwards =
          1.0;  // the prompt's run (and the random repeated tokens for induction)
      return cost;
    };
    return k;
  }();
  return k;
}

}  // namespace csweep::jobs
