// causal_tracing (Meng et al. 2022): noise the subject's embeddings, restore one clean state
// per cell, average over noise samples.
#include "jobs/kinds/kind_options.h"
#include "jobs/kinds/kind_reader.h"

namespace csweep::jobs {
namespace {

void read_causal_tracing(KindReader& r, AnalysisSpec& a) {
  auto o = std::make_shared<CausalTracingOptions>();
  o->noise_multiplier = r.positive("noise_multiplier", o->noise_multiplier);
  if (r.has("noise_std")) o->noise_std = r.positive("noise_std", 0.0);
  o->seed = r.seed("seed");
  o->samples = r.integer("samples", o->samples, 1);
  o->window = r.integer("window", o->window, 1);
  o->restore = r.choice("restore", {"resid", "attn", "mlp"}, o->restore);
  a.positions = r.positions();
  if (const auto* prompts = r.context().prompts) {
    for (const auto& p : *prompts) {
      if (p.subject.empty()) {
        r.fail("kind", "causal_tracing needs a subject span on every prompt; prompt \"" + p.id +
                           "\" has none (set subject: [begin, end])");
        break;
      }
    }
  }
  a.options = o;
}

KindCost causal_tracing_cost(const AnalysisSpec& a, const model::ModelConfig&) {
  const auto& o = a.options_as<CausalTracingOptions>();
  KindCost cost;
  cost.per_cell_forward = true;
  cost.rows_per_cell = o.samples;
  cost.start_layer_back = o.window / 2;
  cost.prompt_forwards = 1.0;          // the clean run
  cost.prompt_batch_rows = o.samples;  // the noised corrupted runs
  return cost;
}

}  // namespace

nlohmann::json CausalTracingOptions::to_json() const {
  return {{"noise_multiplier", noise_multiplier},
          {"noise_std", noise_std ? nlohmann::json(*noise_std) : nlohmann::json(nullptr)},
          {"seed", seed},
          {"samples", samples},
          {"window", window},
          {"restore", restore}};
}

const Kind& causal_tracing_kind() {
  static const Kind k = [] {
    Kind k;
    k.name = "causal_tracing";
    k.keys = {"noise_multiplier", "noise_std", "seed", "samples", "window", "restore", "positions"};
    k.read = read_causal_tracing;
    k.grid = [](const AnalysisSpec& a) {
      return std::vector<Axis>{index_axis("layer", a.layers), index_axis("pos", a.positions)};
    };
    k.cost = causal_tracing_cost;
    k.reduce.baselines = Baselines::Effects;
    k.reduce.value_label = "indirect effect on {metric} (restored - noised)";
    return k;
  }();
  return k;
}

}  // namespace csweep::jobs
