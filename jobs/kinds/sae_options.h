#pragma once
// The options of the SAE feature kinds (jobs/kinds/sae_features.cpp), which the worker maps
// onto SweepRequest::sae.
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "jobs/kinds/kind_registry.h"

namespace csweep::jobs {

// sae_feature_ablation / sae_feature_patching: one cell per (feature, position) of one SAE;
// sae_feature_search: one cell per (feature, quantity) of each corpus context.
struct SaeFeatureOptions final : KindOptions {
  std::string sae;               // the SAE folder as written in the job file
  std::filesystem::path folder;  // ... resolved against the job file's folder
  std::string hook_name;         // from its cfg.json (the site the cells edit)
  int64_t d_in = 0, d_sae = 0;
  std::string files_sha256;       // cfg.json and sae_weights.safetensors
  std::vector<int64_t> features;  // ids, sorted
  std::string direction;          // patching: denoising (default) | noising; empty for ablation
  nlohmann::json to_json() const override;
};

class KindReader;
// `sae` and `features` of an SAE kind, into `o` (errors through `r`).
void read_sae(KindReader& r, SaeFeatureOptions& o);

}  // namespace csweep::jobs
