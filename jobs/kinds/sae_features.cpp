// sae_feature_ablation / sae_feature_patching: zero one SAE feature, or patch it from the other
// prompt, at one position, decode, and keep the SAE's error term; grid [feature, pos].
// sae_feature_search: per corpus context, each feature's max activation, its position, the
// tokens it fires on and their histogram; grid [feature, quantity] (reduce ranks the contexts).
#include <cstdio>
#include <fstream>

#include "common/error.h"
#include "common/sha256.h"
#include "jobs/kinds/kind_reader.h"
#include "jobs/kinds/sae_options.h"
#include "jobs/yaml_fields.h"
#include "model/sae_activation_bins.h"
#include "model/sae_config.h"

namespace csweep::jobs {
namespace {

// A changed SAE makes a different sweep: its files' bytes are in the canonical hash.
std::string files_sha256(const model::SaeConfig& c) {
  Sha256 h;
  std::vector<char> buf(1 << 20);
  for (const auto& path : {c.cfg_path(), c.weights_path()}) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw error_at(path.string(), "", "cannot open");
    while (in.read(buf.data(), static_cast<std::streamsize>(buf.size())) || in.gcount() > 0)
      h.update(buf.data(), static_cast<size_t>(in.gcount()));
  }
  return h.hex_digest();
}

}  // namespace

// `sae: FOLDER` (cfg.json + sae_weights.safetensors, as SAELens saves them), checked against
// the model; then `features` over its d_sae.
void read_sae(KindReader& r, SaeFeatureOptions& o) {
  if (!r.has("sae"))
    return r.error("sae",
                   "missing (the SAELens SAE folder: cfg.json and "
                   "sae_weights.safetensors)");
  const auto text = read_string(r.context().src, r.node()["sae"], r.path() + ".sae");
  if (!text) return r.record(false);
  o.sae = *text;
  o.folder = std::filesystem::path(r.context().src.file).parent_path() / o.sae;
  model::SaeConfig c;
  try {
    c = model::read_sae_config(o.folder);
    if (r.config())
      if (std::string why = model::sae_model_problem(c, *r.config()); !why.empty())
        return r.error("sae", why);
    o.files_sha256 = files_sha256(c);
  } catch (const Error& e) {
    return r.error("sae", e.what());
  }
  o.hook_name = c.hook_name;
  o.d_in = c.d_in;
  o.d_sae = c.d_sae;
  const std::string limit =
      "the SAE has " + std::to_string(c.d_sae) + " features: 0.." + std::to_string(c.d_sae - 1);
  const auto features = read_axis(r.context().src, r.node()["features"], r.path() + ".features",
                                  c.d_sae, "feature", limit);
  if (!features) return r.record(false);
  o.features = *features;
  if (o.features.empty()) r.error("features", "empty list (list at least one feature)");
}

namespace {

void read_sae_features(KindReader& r, AnalysisSpec& a) {
  auto o = std::make_shared<SaeFeatureOptions>();
  r.reject("layers", "the SAE's hook_name fixes the layer");
  if (a.kind->name != "sae_feature_ablation")
    o->direction = r.choice("direction", {"denoising", "noising"}, "denoising");
  read_sae(r, *o);
  a.positions = r.positions();
  if (r.ok()) a.layers = {model::parse_hook_site(o->hook_name)->layer};
  a.options = o;
}

// [feature, pos]: the positions of one feature are adjacent cells (one SAE encode serves all).
std::vector<Axis> sae_features_grid(const AnalysisSpec& a) {
  return {index_axis("feature", a.options_as<SaeFeatureOptions>().features),
          index_axis("pos", a.positions)};
}

KindCost sae_features_cost(const AnalysisSpec& a, const model::ModelConfig&) {
  const auto& o = a.options_as<SaeFeatureOptions>();
  const bool ablation = a.kind->name == "sae_feature_ablation";
  const bool attribution = a.kind->name == "sae_feature_attribution";
  KindCost cost;
  // Ablation and patching: the prompts' caches, then one edited row per cell. Attribution: one
  // pass per prompt, both caches, then a forward and a backward (about two forwards).
  cost.per_cell_forward = !attribution;
  cost.prompt_forwards = ablation ? 1.0 : attribution ? 4.0 : 2.0;
  if (attribution) cost.pass_memory = PassMemory::Backward;
  // Encoding (and decoding) the site's positions of one or both prompts.
  cost.prompt_other_flops = 4.0 * (ablation ? 1.0 : 2.0) * static_cast<double>(o.d_in) *
                            static_cast<double>(o.d_sae) * static_cast<double>(a.positions.size());
  return cost;
}

// The three rows differ only in what the cells hold: ablation's the edited clean run (effect
// from the clean run), patching's and attribution's the patched run, measured or estimated.
Kind sae_features_kind(const std::string& name, const char* value_label) {
  Kind k;
  k.name = name;
  k.keys = {"sae", "features", "positions"};
  if (name != "sae_feature_ablation") k.keys.push_back("direction");
  k.needs_gradients = name == "sae_feature_attribution";
  k.read = read_sae_features;
  k.grid = sae_features_grid;
  k.cost = sae_features_cost;
  k.reduce.baselines = name == "sae_feature_ablation" ? Baselines::Ablation : Baselines::Fraction;
  k.reduce.value_label = value_label;
  return k;
}

// The feature search's quantities per (context, feature), in cell order.
std::vector<std::string> search_quantity_names() {
  std::vector<std::string> names = {"max", "argmax", "fires"};
  for (int i = 0; i < model::sae_bins::kBins; ++i) names.push_back(model::sae_bins::bin_name(i));
  return names;
}

void read_sae_feature_search(KindReader& r, AnalysisSpec& a) {
  auto o = std::make_shared<SaeFeatureOptions>();
  r.reject("layers", "the SAE's hook_name fixes the layer");
  read_sae(r, *o);
  a.positions = r.positions();  // every position of a context: the cost model's tokens
  if (r.ok()) a.layers = {model::parse_hook_site(o->hook_name)->layer};
  a.options = o;
}

// [feature, quantity]: one encode per context serves all its cells.
std::vector<Axis> sae_feature_search_grid(const AnalysisSpec& a) {
  const auto names = search_quantity_names();
  return {index_axis("feature", a.options_as<SaeFeatureOptions>().features),
          named_axis("quantity", names, names)};
}

KindCost sae_feature_search_cost(const AnalysisSpec& a, const model::ModelConfig&) {
  const auto& o = a.options_as<SaeFeatureOptions>();
  KindCost cost;
  cost.prompt_forwards = 1.0;  // up to the SAE's site
  cost.prompt_other_flops = 2.0 * static_cast<double>(o.d_in) * static_cast<double>(o.d_sae) *
                            static_cast<double>(a.positions.size());
  return cost;
}

std::vector<QuantityDefaults> search_quantities() {
  using model::sae_bins::lower_edge;
  std::vector<QuantityDefaults> q = {
      {"max", "max activation in the context", ColourScale::Sequential, Ranking::Magnitude},
      {"argmax", "position of the max activation", ColourScale::Sequential, Ranking::Never},
      {"fires", "tokens the feature fires on (activation > 0)", ColourScale::Sequential,
       Ranking::Magnitude}};
  auto edge = [](double v) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%g", v);
    return std::string(buf);
  };
  for (int i = 0; i < model::sae_bins::kBins; ++i) {
    std::string label = "tokens with activation in ";
    label += i == 0 ? '(' : '[';
    label += i == 0 ? std::string("0") : edge(lower_edge(i));
    label += ", ";
    label += edge(lower_edge(i + 1));
    label += ")";
    q.push_back({model::sae_bins::bin_name(i), label, ColourScale::Sequential, Ranking::Never});
  }
  return q;
}

}  // namespace

const Kind& sae_feature_search_kind() {
  static const Kind k = [] {
    Kind row;
    row.name = "sae_feature_search";
    row.keys = {"sae", "features"};
    row.uses_metric = false;
    row.read = read_sae_feature_search;
    row.grid = sae_feature_search_grid;
    row.cost = sae_feature_search_cost;
    row.reduce.colour_scale = ColourScale::Sequential;
    row.reduce.value_label = "SAE feature activation";
    row.reduce.quantity_axis = "quantity";
    row.reduce.quantities = search_quantities();
    return row;
  }();
  return k;
}

nlohmann::json SaeFeatureOptions::to_json() const {
  nlohmann::json j = {{"sae", sae},     {"hook_name", hook_name},       {"d_in", d_in},
                      {"d_sae", d_sae}, {"files_sha256", files_sha256}, {"features", features}};
  if (!direction.empty()) j["direction"] = direction;
  return j;
}

const Kind& sae_feature_ablation_kind() {
  static const Kind k =
      sae_features_kind("sae_feature_ablation", "{metric} with the feature zeroed");
  return k;
}

const Kind& sae_feature_patching_kind() {
  static const Kind k = sae_features_kind("sae_feature_patching", "{metric} of the patched run");
  return k;
}

const Kind& sae_feature_attribution_kind() {
  static const Kind k = sae_features_kind(
      "sae_feature_attribution", "{metric} of the patched run, estimated (attribution patching)");
  return k;
}

}  // namespace csweep::jobs
