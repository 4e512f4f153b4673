// logit_lens: the answer read out of each layer's residual stream through the unembedding.
#include "jobs/kinds/kind_options.h"
#include "jobs/kinds/kind_reader.h"

namespace csweep::jobs {
namespace {

void read_logit_lens(KindReader& r, AnalysisSpec& a) {
  auto o = std::make_shared<LogitLensOptions>();
  std::vector<std::string> fallback = {"prob", "rank"};
  if (r.context().metric == Metric::LogitDiff) fallback.push_back("logit_diff");
  o->quantities = r.choices("quantities", kLensQuantities, fallback);
  a.options = o;
}

KindCost logit_lens_cost(const AnalysisSpec&, const model::ModelConfig& c) {
  KindCost cost;
  cost.prompt_forwards = 1.0;  // the clean run, then every layer through the unembedding
  cost.prompt_other_flops =
      static_cast<double>(c.n_layers) * 2.0 * static_cast<double>(c.d_model * c.d_vocab);
  return cost;
}

}  // namespace

nlohmann::json LogitLensOptions::to_json() const { return {{"quantities", quantities}}; }

const Kind& logit_lens_kind() {
  static const Kind k = [] {
    Kind k;
    k.name = "logit_lens";
    k.keys = {"quantities"};
    k.read = read_logit_lens;
    k.reduce.value_label = "logit lens readout";
    k.reduce.quantity_axis = "quantity";
    k.reduce.quantities = {
        {"prob", "probability of the answer", ColourScale::Sequential},
        {"logprob", "log-probability of the answer (nats)"},
        {"rank", "rank of the answer (0 = top)", ColourScale::Sequential, Ranking::Smallest},
        {"logit_diff", "logit(answer) - logit(wrong)"},
        {"top_token", "top token", ColourScale::Diverging, Ranking::Never, true},
    };
    k.grid = [](const AnalysisSpec& a) {  // [layer, quantity]
      return std::vector<Axis>{
          index_axis("layer", a.layers),
          named_axis("quantity", a.options_as<LogitLensOptions>().quantities, kLensQuantities)};
    };
    k.cost = logit_lens_cost;
    return k;
  }();
  return k;
}

}  // namespace csweep::jobs
