#pragma once
// A sparse autoencoder's cfg.json as SAELens 6.x writes it (SAE.save_model), read without
// torch so jobs/ can check an SAE against the model while it reads a job file.
#include <cstdint>
#include <filesystem>
#include <string>

#include "model/config.h"
#include "model/hook_site.h"

namespace csweep::model {

enum class SaeArchitecture { Standard, TopK, JumpReLU };

// SAELens's normalize_activations. ExpectedAverageOnlyIn and the absent scaling factor: SAELens's
// SAE.load_from_disk runs them as the identity (its trainer folds the factor into the weights
// before saving), so csweep does too.
enum class SaeNormalization { None, ExpectedAverageOnlyIn, LayerNorm, ConstantNormRescale };

struct SaeConfig {
  std::filesystem::path folder;  // holds cfg.json and sae_weights.safetensors
  SaeArchitecture architecture = SaeArchitecture::Standard;
  int64_t d_in = 0;
  int64_t d_sae = 0;
  std::string dtype = "float32";  // float32, float64, float16, bfloat16 (torch.* spellings too)
  bool apply_b_dec_to_input = true;
  SaeNormalization normalize = SaeNormalization::None;
  int64_t k = 0;                              // topk: active features per position
  bool rescale_acts_by_decoder_norm = false;  // topk
  std::string hook_name;                      // TransformerLens name: blocks.3.hook_resid_pre
  HookSite site;
  bool reshape_hook_z =
      false;  // reshape_activations: hook_z ([b, p, h, d_head] -> [b, p, h*d_head])

  std::filesystem::path cfg_path() const { return folder / "cfg.json"; }
  std::filesystem::path weights_path() const { return folder / "sae_weights.safetensors"; }
};

const char* sae_architecture_name(SaeArchitecture a);

// Reads FOLDER/cfg.json. Throws csweep::Error "FOLDER/cfg.json: FIELD: reason" for a missing
// or malformed field, an unknown architecture, normalisation or dtype, and a hook_name csweep
// has no site for.
SaeConfig read_sae_config(const std::filesystem::path& folder);

// The width of one position's activation at `site` (d_model, d_mlp, n_heads * d_head for
// hook_z); 0 for sites an SAE cannot read (patterns, scores, scales, per-head q/k/v).
int64_t sae_site_width(const HookSite& site, const ModelConfig& config);

// Why this SAE does not fit this model ("" when it does): its site is missing, or d_in is not
// the site's width. The message names cfg.json and the field.
std::string sae_model_problem(const SaeConfig& sae, const ModelConfig& config);

}  // namespace csweep::model
