// ablation: zero, mean or resample ablation of heads, MLPs, whole blocks or MLP neurons.
#include "jobs/kinds/kind_options.h"
#include "jobs/kinds/kind_reader.h"

namespace csweep::jobs {
namespace {

void read_ablation(KindReader& r, AnalysisSpec& a) {
  auto o = std::make_shared<AblationOptions>();
  o->method = r.choice("method", {"zero", "mean", "resample"}, "zero");
  // TransformerLens's mean ablation averages over prompts and positions; circuit work on
  // templated prompts (IOI) often wants one mean per position over the prompts.
  if (r.only_if(o->method == "mean", "mean_over", "only method mean takes a mean"))
    o->mean_over = r.choice("mean_over", {"prompts_and_positions", "prompts"}, o->mean_over);
  o->target = r.choice("target", {"heads", "mlp", "layer", "neuron"}, "heads");
  o->reference = r.choice("reference", {"clean", "corrupted"}, "clean");
  o->seed = r.seed("seed");
  if (r.only_if(o->target == "heads", "heads", "only target heads has a head axis"))
    a.heads = r.n_heads_axis();
  if (r.only_if(o->target == "neuron", "neurons", "only target neuron has a neuron axis"))
    o->neurons = r.neurons();
  a.options = o;
}

// [layer, head] for heads, [layer, neuron] for neurons, [layer] for mlp and layer
std::vector<Axis> ablation_grid(const AnalysisSpec& a) {
  const auto& o = a.options_as<AblationOptions>();
  std::vector<Axis> axes{index_axis("layer", a.layers)};
  if (o.target == "heads") axes.push_back(index_axis("head", a.heads));
  if (o.target == "neuron") axes.push_back(index_axis("neuron", o.neurons));
  return axes;
}

}  // namespace

nlohmann::json AblationOptions::to_json() const {
  nlohmann::json j = {
      {"method", method}, {"target", target}, {"reference", reference}, {"seed", seed}};
  if (method == "mean") j["mean_over"] = mean_over;
  if (target == "neuron") j["neurons"] = neurons;
  return j;
}

const Kind& ablation_kind() {
  static const Kind k = [] {
    Kind k;
    k.name = "ablation";
    k.keys = {"method", "target", "reference", "mean_over", "seed", "heads", "neurons"};
    k.read = read_ablation;
    // The clean run is the reference: effect = ablated - clean, so top-k lists the components
    // whose removal changes the metric most.
    k.reduce.baselines = Baselines::Ablation;
    k.reduce.value_label = "{metric} after ablation";
    k.grid = ablation_grid;
    k.cost = [](const AnalysisSpec&, const model::ModelConfig&) {
      KindCost cost;
      cost.per_cell_forward =
          true;  // the clean and reference caches, then one ablated row per cell
      return cost;
    };
    return k;
  }();
  return k;
}

}  // namespace csweep::jobs
