// weight_norms: per-head Frobenius norms of the OV circuit W_OV = W_V·W_O and the QK circuit
// W_QK = W_Q·W_Kᵀ (TransformerLens's orientation, d_model × d_model), read from the weights
// alone: no forward pass, the same values for every prompt. Computed in
// analyses/weight_norms_cells.cpp.
#include "jobs/kinds/kind_reader.h"

namespace csweep::jobs {
namespace {

const std::vector<std::string> kCircuits = {"ov", "qk"};

struct WeightNormsOptions final : KindOptions {
  std::vector<std::string> quantities = kCircuits;
  nlohmann::json to_json() const override { return {{"quantities", quantities}}; }
};

void read_weight_norms(KindReader& r, AnalysisSpec& a) {
  auto o = std::make_shared<WeightNormsOptions>();
  o->quantities = r.choices("quantities", kCircuits, kCircuits);
  a.heads = r.n_heads_axis();  // query heads; under GQA each reads its group's KV head
  a.options = o;
}

// [quantity, layer, head]
std::vector<Axis> weight_norms_grid(const AnalysisSpec& a) {
  return {named_axis("quantity", a.options_as<WeightNormsOptions>().quantities, kCircuits),
          index_axis("layer", a.layers), index_axis("head", a.heads)};
}

// Per head and circuit: two d_head × d_head Gram matrices (2·d_head²·d_model FLOPs each) and
// their elementwise product.
KindCost weight_norms_cost(const AnalysisSpec& a, const model::ModelConfig& c) {
  KindCost cost;
  cost.prompt_forwards = 0.0;
  const double per_head = 4.0 * static_cast<double>(c.d_head * c.d_head * c.d_model);
  const size_t heads =
      a.options_as<WeightNormsOptions>().quantities.size() * a.layers.size() * a.heads.size();
  cost.prompt_other_flops = static_cast<double>(heads) * per_head;
  cost.pass_memory = PassMemory::WeightsOnly;
  return cost;
}

}  // namespace

const Kind& weight_norms_kind() {
  static const Kind k = [] {
    Kind k;
    k.name = "weight_norms";
    k.keys = {"quantities", "heads"};
    k.uses_metric = false;
    k.read = read_weight_norms;
    k.grid = weight_norms_grid;
    k.cost = weight_norms_cost;
    k.reduce.colour_scale = ColourScale::Sequential;
    k.reduce.value_label = "Frobenius norm";
    return k;
  }();
  return k;
}

}  // namespace csweep::jobs
