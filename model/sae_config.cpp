#include "model/sae_config.h"

#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "common/error.h"

namespace csweep::model {
namespace {

nlohmann::json read_json(const std::filesystem::path& path) {
  std::ifstream in(path);
  if (!in) throw error_at(path.string(), "", "cannot open (is this a SAELens SAE folder?)");
  std::stringstream text;
  text << in.rdbuf();
  try {
    nlohmann::json j = nlohmann::json::parse(text.str());
    if (!j.is_object()) throw error_at(path.string(), "", "expected a JSON object");
    return j;
  } catch (const nlohmann::json::exception& e) {
    throw error_at(path.string(), "", std::string("malformed JSON: ") + e.what());
  }
}

// The value of `key` in `j` as T; `fallback` when absent or null, an error when of another type.
template <typename T>
T field(const nlohmann::json& j, const std::string& key, const std::string& file, T fallback) {
  const auto it = j.find(key);
  if (it == j.end() || it->is_null()) return fallback;
  try {
    return it->get<T>();
  } catch (const nlohmann::json::exception&) {
    throw error_at(file, key, "unexpected value " + it->dump());
  }
}

int64_t positive(const nlohmann::json& j, const std::string& key, const std::string& file) {
  if (!j.contains(key)) throw error_at(file, key, "missing");
  const auto it = j.find(key);
  if (!it->is_number_integer() || it->get<int64_t>() <= 0)
    throw error_at(file, key, "expected a positive integer, got " + it->dump());
  return it->get<int64_t>();
}

SaeArchitecture parse_architecture(const std::string& s, const std::string& file) {
  if (s == "standard") return SaeArchitecture::Standard;
  if (s == "topk") return SaeArchitecture::TopK;
  if (s == "jumprelu") return SaeArchitecture::JumpReLU;
  throw error_at(file, "architecture",
                 "unknown architecture \"" + s + "\" (csweep reads standard, topk, jumprelu)");
}

SaeNormalization parse_normalization(const std::string& s, const std::string& file) {
  if (s == "none") return SaeNormalization::None;
  if (s == "expected_average_only_in") return SaeNormalization::ExpectedAverageOnlyIn;
  if (s == "layer_norm") return SaeNormalization::LayerNorm;
  if (s == "constant_norm_rescale") return SaeNormalization::ConstantNormRescale;
  throw error_at(file, "normalize_activations",
                 "unsupported \"" + s +
                     "\" (csweep reads none, expected_average_only_in, layer_norm, "
                     "constant_norm_rescale)");
}

std::string parse_dtype_name(const std::string& s, const std::string& file) {
  const std::string bare = s.rfind("torch.", 0) == 0 ? s.substr(6) : s;
  if (bare == "float32" || bare == "float64" || bare == "float16" || bare == "bfloat16")
    return bare;
  throw error_at(file, "dtype",
                 "unknown dtype \"" + s + "\" (float32, float64, float16, bfloat16)");
}

// SAELens 6.x keeps hook_name in metadata; older configs have it (or hook_point) at the top.
std::string hook_name_of(const nlohmann::json& j, const std::string& file) {
  if (auto m = j.find("metadata"); m != j.end() && m->is_object()) {
    const auto name = field<std::string>(*m, "hook_name", file, "");
    if (!name.empty()) return name;
  }
  for (const char* key : {"hook_name", "hook_point"}) {
    const auto name = field<std::string>(j, key, file, "");
    if (!name.empty()) return name;
  }
  throw error_at(file, "metadata.hook_name", "missing (the TransformerLens hook the SAE reads)");
}

}  // namespace

const char* sae_architecture_name(SaeArchitecture a) {
  switch (a) {
    case SaeArchitecture::Standard:
      return "standard";
    case SaeArchitecture::TopK:
      return "topk";
    case SaeArchitecture::JumpReLU:
      return "jumprelu";
  }
  return "?";
}

SaeConfig read_sae_config(const std::filesystem::path& folder) {
  SaeConfig c;
  c.folder = folder;
  const std::string file = c.cfg_path().string();
  const nlohmann::json j = read_json(c.cfg_path());
  c.architecture =
      parse_architecture(field<std::string>(j, "architecture", file, "standard"), file);
  c.d_in = positive(j, "d_in", file);
  c.d_sae = positive(j, "d_sae", file);
  c.dtype = parse_dtype_name(field<std::string>(j, "dtype", file, "float32"), file);
  c.apply_b_dec_to_input = field<bool>(j, "apply_b_dec_to_input", file, true);
  c.normalize =
      parse_normalization(field<std::string>(j, "normalize_activations", file, "none"), file);
  if (c.architecture == SaeArchitecture::TopK) {
    c.k = positive(j, "k", file);
    if (c.k > c.d_sae)
      throw error_at(file, "k",
                     std::to_string(c.k) + " is more than d_sae " + std::to_string(c.d_sae));
    c.rescale_acts_by_decoder_norm = field<bool>(j, "rescale_acts_by_decoder_norm", file, false);
  }
  c.hook_name = hook_name_of(j, file);
  // An SAE trained on one head's slice of a head site reads [.., d_head], not the site.
  for (const nlohmann::json* where : {&j, j.contains("metadata") ? &j["metadata"] : &j})
    if (where->contains("hook_head_index") && !(*where)["hook_head_index"].is_null())
      throw error_at(file, "hook_head_index",
                     (*where)["hook_head_index"].dump() +
                         ": SAEs of a single head are not supported (csweep reads whole sites)");
  const auto site = parse_hook_site(c.hook_name);
  if (!site)
    throw error_at(file, "hook_name", "\"" + c.hook_name + "\" is not a hook site csweep knows");
  c.site = *site;
  const auto reshape = field<std::string>(j, "reshape_activations", file, "none");
  if (reshape != "none" && reshape != "hook_z")
    throw error_at(file, "reshape_activations", "unknown \"" + reshape + "\" (none, hook_z)");
  c.reshape_hook_z = reshape == "hook_z";
  if (c.reshape_hook_z != (c.site.point == HookPoint::AttnZ))
    throw error_at(file, "reshape_activations",
                   "\"" + reshape + "\" with hook_name \"" + c.hook_name +
                       "\" (hook_z SAEs, and only they, reshape heads)");
  return c;
}

int64_t sae_site_width(const HookSite& site, const ModelConfig& config) {
  switch (site.point) {
    case HookPoint::Embed:
    case HookPoint::PosEmbed:
    case HookPoint::ResidPre:
    case HookPoint::Ln1Normalized:
    case HookPoint::Ln1PostNormalized:
    case HookPoint::AttnOut:
    case HookPoint::ResidMid:
    case HookPoint::Ln2Normalized:
    case HookPoint::Ln2PostNormalized:
    case HookPoint::MlpOut:
    case HookPoint::ResidPost:
    case HookPoint::LnFinalNormalized:
      return config.d_model;
    case HookPoint::MlpPre:
    case HookPoint::MlpPreLinear:
    case HookPoint::MlpPost:
      return config.d_mlp;
    case HookPoint::AttnZ:
      return config.n_heads * config.d_head;
    default:
      return 0;
  }
}

std::string sae_model_problem(const SaeConfig& sae, const ModelConfig& config) {
  const std::string file = sae.cfg_path().string();
  std::string why;
  if (!site_exists(sae.site, config, &why))
    return file + ": hook_name: \"" + sae.hook_name + "\" does not exist in this model: " + why;
  const int64_t width = sae_site_width(sae.site, config);
  if (width == 0) return file + ": hook_name: \"" + sae.hook_name + "\" is not a site an SAE reads";
  if (width != sae.d_in)
    return file + ": d_in: " + std::to_string(sae.d_in) + " is not the width of " + sae.hook_name +
           " in this model (" + std::to_string(width) + ")";
  return "";
}

}  // namespace csweep::model
