#include "jobs/kinds/kind_registry.h"

#include <algorithm>

#include "common/error.h"

namespace csweep::jobs {

// One line per kind, in the order docs/jobs.md lists them (and "expected one of" messages).
const Kind& activation_patching_kind();
const Kind& ablation_kind();
const Kind& causal_tracing_kind();
const Kind& logit_lens_kind();
const Kind& direct_logit_attribution_kind();
const Kind& attention_scores_kind();
const Kind& attribution_patching_kind();
const Kind& weight_norms_kind();
const Kind& head_circuits_kind();
const Kind& composition_scores_kind();
const Kind& steering_kind();
const Kind& sae_feature_ablation_kind();
const Kind& sae_feature_patching_kind();
const Kind& sae_feature_attribution_kind();
const Kind& sae_feature_search_kind();
const Kind& path_patching_kind();
const Kind& edge_attribution_kind();
const Kind& probe_kind();
const Kind& circuit_faithfulness_kind();

const std::vector<const Kind*>& all_kinds() {
  static const std::vector<const Kind*> kinds = {
      &activation_patching_kind(),
      &ablation_kind(),
      &causal_tracing_kind(),
      &logit_lens_kind(),
      &direct_logit_attribution_kind(),
      &attention_scores_kind(),
      &attribution_patching_kind(),
      &weight_norms_kind(),
      &head_circuits_kind(),
      &composition_scores_kind(),
      &steering_kind(),
      &sae_feature_ablation_kind(),
      &sae_feature_patching_kind(),
      &sae_feature_attribution_kind(),
      &sae_feature_search_kind(),
      &path_patching_kind(),
      &edge_attribution_kind(),
      &probe_kind(),
      &circuit_faithfulness_kind(),
  };
  return kinds;
}

const Kind* find_kind(const std::string& name) {
  for (const Kind* k : all_kinds())
    if (k->name == name) return k;
  return nullptr;
}

const Kind& kind(const std::string& name) {
  if (const Kind* k = find_kind(name)) return *k;
  throw error_at("analysis", "kind", "unknown analysis kind \"" + name + "\"");
}

std::vector<std::string> kind_names() {
  std::vector<std::string> names;
  for (const Kind* k : all_kinds()) names.push_back(k->name);
  return names;
}

Axis index_axis(const std::string& name, const std::vector<int64_t>& values) {
  Axis a{name, static_cast<int64_t>(values.size()), {}, values};
  for (int64_t v : values) a.labels.push_back(std::to_string(v));
  return a;
}

Axis named_axis(const std::string& name, const std::vector<std::string>& labels,
                const std::vector<std::string>& choices) {
  Axis a{name, static_cast<int64_t>(labels.size()), labels, {}};
  for (const auto& l : labels)
    a.values.push_back(std::find(choices.begin(), choices.end(), l) - choices.begin());
  return a;
}

}  // namespace csweep::jobs
