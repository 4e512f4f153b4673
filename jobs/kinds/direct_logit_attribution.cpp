// direct_logit_attribution: each head's (or MLP's, or block's) direct contribution to the
// metric through the final norm's frozen scale and the unembedding.
#include "jobs/kinds/kind_options.h"
#include "jobs/kinds/kind_reader.h"

namespace csweep::jobs {
namespace {

void read_dla(KindReader& r, AnalysisSpec& a) {
  auto o = std::make_shared<DirectLogitAttributionOptions>();
  o->components = r.choice("components", {"heads", "mlp", "layer"}, "heads");
  if (r.only_if(o->components == "heads", "heads", "only components heads has a head axis"))
    a.heads = r.n_heads_axis();
  a.options = o;
}

// [layer, head] for heads, [layer] for mlp and layer
std::vector<Axis> dla_grid(const AnalysisSpec& a) {
  std::vector<Axis> axes{index_axis("layer", a.layers)};
  if (a.options_as<DirectLogitAttributionOptions>().components == "heads")
    axes.push_back(index_axis("head", a.heads));
  return axes;
}

}  // namespace

nlohmann::json DirectLogitAttributionOptions::to_json() const {
  return {{"components", components}};
}

const Kind& direct_logit_attribution_kind() {
  static const Kind k = [] {
    Kind k;
    k.name = "direct_logit_attribution";
    k.keys = {"components", "heads"};
    k.read = read_dla;
    // Always the answer-minus-wrong logit direction, whatever the job's metric.
    k.reduce.value_label = "direct logit attribution to logit(answer) - logit(wrong)";
    k.grid = dla_grid;
    k.cost = [](const AnalysisSpec&, const model::ModelConfig&) {
      KindCost cost;
      cost.prompt_forwards = 1.0;  // the clean run's cache
      return cost;
    };
    return k;
  }();
  return k;
}

}  // namespace csweep::jobs
