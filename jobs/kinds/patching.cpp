// activation_patching and attribution_patching: the same sites and grid; the first runs one
// patched forward per cell, the second estimates every cell from one forward and backward.
#include "jobs/kinds/kind_options.h"
#include "jobs/kinds/kind_reader.h"
#include "model/hook_site.h"

namespace csweep::jobs {
namespace {

// A site outside the blocks (hook_embed, hook_pos_embed, ln_final.*): alone in its analysis,
// no layers or heads, patched per position ([pos]); the analyses library runs it from the
// tokens.
void read_outside_block_site(KindReader& r, AnalysisSpec& a) {
  if (a.sites.size() > 1)
    r.error("sites", "\"" + std::string(model::point_suffix(a.sites[0])) +
                         "\" is outside the blocks: give it in an analysis of its own");
  if (r.has("layers")) r.error("layers", "the site is outside the blocks: it has no layers");
  r.reject("heads", "the site has no head axis");
  if (r.choice("patch", {"per_position", "all_positions"}, "per_position") != "per_position")
    r.error("patch", "a site outside the blocks is patched per_position");
  a.layers.clear();
  a.positions = r.positions();
}

// Sites, heads (head sites only), positions; returns per_position.
bool read_sites_and_axes(KindReader& r, AnalysisSpec& a, bool outside_blocks) {
  a.sites = r.sites(outside_blocks);
  if (!a.sites.empty() && !model::is_block_point(a.sites[0])) {
    read_outside_block_site(r, a);
    return true;
  }
  for (auto s : a.sites)
    if (!model::is_block_point(s))
      r.error("sites", "\"" + std::string(model::point_suffix(s)) +
                           "\" is outside the blocks: give it in an analysis of its own");
  // Full names ("blocks.3.attn.hook_z") choose the layers, as layers: would.
  if (!r.site_layers().empty()) {
    if (r.has("layers"))
      r.error("layers",
              "the sites name their layers (blocks.L...); give the layers there or "
              "here, not both");
    a.layers = r.site_layers();
  }
  const model::ModelConfig* c = r.config();
  const bool head_sites = !a.sites.empty() && model::is_head_point(a.sites[0]);
  const bool kv = head_sites && model::is_kv_head_point(a.sites[0]);
  if (head_sites)
    a.heads = r.heads(c ? (kv ? c->n_kv_heads : c->n_heads) : -1);
  else if (r.ok())  // an unknown site was reported already: its head axis is not a second error
    r.reject("heads", "the sites have no head axis");
  const bool per_position =
      r.choice("patch", {"per_position", "all_positions"}, "per_position") == "per_position";
  a.positions = r.positions();
  return per_position;
}

void read_activation(KindReader& r, AnalysisSpec& a) {
  auto o = std::make_shared<ActivationPatchingOptions>();
  o->per_position = read_sites_and_axes(r, a, /*outside_blocks=*/true);
  o->direction = r.choice("direction", {"denoising", "noising"}, "denoising");
  a.options = o;
}

void read_attribution(KindReader& r, AnalysisSpec& a) {
  auto o = std::make_shared<AttributionPatchingOptions>();
  o->per_position = read_sites_and_axes(r, a, /*outside_blocks=*/false);
  o->qk_fix = r.flag("qk_fix", false);
  a.options = o;
}

// [site (several sites only), layer, pos (per position only), head (head sites only)]
std::vector<Axis> patching_grid(const AnalysisSpec& a, bool per_position) {
  std::vector<Axis> axes;
  if (a.sites.size() > 1) {
    Axis site{"site", static_cast<int64_t>(a.sites.size()), {}, {}};
    for (auto s : a.sites) {
      site.labels.push_back(model::point_suffix(s));
      site.values.push_back(static_cast<int64_t>(s));
    }
    axes.push_back(site);
  }
  if (!a.sites.empty() && !model::is_block_point(a.sites[0]))  // hook_embed, ln_final.*: [pos]
    return {index_axis("pos", a.positions)};
  axes.push_back(index_axis("layer", a.layers));
  if (per_position) axes.push_back(index_axis("pos", a.positions));
  if (!a.sites.empty() && model::is_head_point(a.sites[0]))
    axes.push_back(index_axis("head", a.heads));
  return axes;
}

// What the two patching rows share: the sites and axes they read, their grid and baselines.
template <class Options>
Kind patching_row(const char* name, std::vector<std::string> keys,
                  void (*read)(KindReader&, AnalysisSpec&)) {
  Kind k;
  k.name = name;
  k.keys = std::move(keys);
  k.read = read;
  k.grid = [](const AnalysisSpec& a) {
    return patching_grid(a, a.options_as<Options>().per_position);
  };
  k.reduce.baselines = Baselines::Fraction;
  return k;
}

}  // namespace

nlohmann::json ActivationPatchingOptions::to_json() const {
  return {{"per_position", per_position}, {"direction", direction}};
}

nlohmann::json AttributionPatchingOptions::to_json() const {
  return {{"per_position", per_position}, {"qk_fix", qk_fix}};
}

const Kind& activation_patching_kind() {
  static const Kind k = [] {
    Kind k = patching_row<ActivationPatchingOptions>(
        "activation_patching", {"sites", "direction", "patch", "heads", "positions"},
        read_activation);
    k.cost = [](const AnalysisSpec&, const model::ModelConfig&) {
      KindCost cost;
      cost.per_cell_forward = true;  // clean and corrupted caches, then one patched row per cell
      return cost;
    };
    return k;
  }();
  return k;
}

const Kind& attribution_patching_kind() {
  static const Kind k = [] {
    Kind k = patching_row<AttributionPatchingOptions>(
        "attribution_patching", {"sites", "patch", "qk_fix", "heads", "positions"},
        read_attribution);
    k.cost = [](const AnalysisSpec&, const model::ModelConfig&) {
      KindCost cost;
      cost.prompt_forwards = 4.0;  // clean forward, corrupted forward, backward ≈ 2 forwards
      cost.pass_memory = PassMemory::Backward;
      return cost;
    };
    k.needs_gradients = true;
    k.reduce.value_label = "{metric} of the patched run, estimated (attribution patching)";
    return k;
  }();
  return k;
}

}  // namespace csweep::jobs
