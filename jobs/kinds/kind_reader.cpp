#include "jobs/kinds/kind_reader.h"

#include <algorithm>
#include <climits>

#include "jobs/yaml_fields.h"
#include "model/hook_site.h"

namespace csweep::jobs {
namespace {

std::string plural(int64_t n, const char* what) { return std::to_string(n) + " " + what; }

std::string range_text(int64_t n, const char* what) {
  return "model has " + plural(n, what) + ": 0.." + std::to_string(n - 1);
}

int64_t shortest_prompt(const std::vector<PromptPair>* prompts) {
  if (!prompts || prompts->empty()) return -1;
  int64_t n = INT64_MAX;
  for (const auto& p : *prompts) n = std::min(n, p.n_tokens());
  return n;
}

std::vector<std::string> block_site_names() {
  std::vector<std::string> names;
  for (int i = 0; i < model::kHookPointCount; ++i) {
    auto p = static_cast<model::HookPoint>(i);
    if (model::is_block_point(p)) names.push_back(model::point_suffix(p));
  }
  return names;
}

// A block site by its block-relative name ("attn.hook_z": layer -1, the analysis's layers) or
// its full TransformerLens name ("blocks.3.attn.hook_z": that layer); with `outside_blocks`
// also hook_embed, hook_pos_embed and ln_final.* (layer -1).
std::optional<model::HookSite> read_site(const Source& src, const YAML::Node& node,
                                         const std::string& path, const model::ModelConfig* config,
                                         bool outside_blocks) {
  auto name = read_string(src, node, path);
  if (!name) return std::nullopt;
  auto site = model::parse_hook_site("blocks.0." + *name);
  if (site) site->layer = -1;
  if (!site) {
    auto full = model::parse_hook_site(*name);
    if (full && model::is_block_point(full->point)) {
      if (config && (full->layer < 0 || full->layer >= config->n_layers)) {
        src.error(node, path + ": layer " + std::to_string(full->layer) + " out of range (" +
                            range_text(config->n_layers, "layers") + ")");
        return std::nullopt;
      }
      site = full;
    } else if (full && outside_blocks) {
      site = full;
    } else if (full) {
      src.error(node, path + ": \"" + *name +
                          "\" is not inside a block; only activation_patching patches it");
    } else {
      src.error(node, path + ": unknown hook site \"" + *name + "\"" +
                          did_you_mean(*name, block_site_names()));
    }
  }
  if (!site) return std::nullopt;
  std::string why;
  const model::HookSite at_layer =
      model::is_block_point(site->point)
          ? model::HookSite{site->point, std::max<int64_t>(site->layer, 0)}
          : *site;
  if (config && !model::site_exists(at_layer, *config, &why)) {
    src.error(node, path + ": hook site \"" + *name + "\" does not exist in this model: " + why);
    return std::nullopt;
  }
  return site;
}

}  // namespace

void KindReader::error(const char* key, const std::string& reason) {
  ctx_.src.error(node_[key] ? node_[key] : node_, path_ + "." + key + ": " + reason);
  ok_ = false;
}

void KindReader::fail(const char* at_key, const std::string& reason) {
  ctx_.src.error(node_[at_key] ? node_[at_key] : node_, path_ + ": " + reason);
  ok_ = false;
}

void KindReader::reject(const char* key, const std::string& why) {
  if (has(key)) error(key, why);
}

std::string KindReader::choice(const char* key, const std::vector<std::string>& choices,
                               const std::string& fallback) {
  if (!has(key)) return fallback;
  return or_fail(read_choice(ctx_.src, node_[key], path_ + "." + key, choices), fallback);
}

std::vector<std::string> KindReader::choices(const char* key,
                                             const std::vector<std::string>& choices,
                                             const std::vector<std::string>& fallback) {
  if (!has(key)) return fallback;
  return or_fail(read_choices(ctx_.src, node_[key], path_ + "." + key, choices), fallback);
}

bool KindReader::flag(const char* key, bool fallback) {
  if (!has(key)) return fallback;
  return or_fail(read_bool(ctx_.src, node_[key], path_ + "." + key), fallback);
}

int64_t KindReader::integer(const char* key, int64_t fallback, int64_t minimum) {
  if (!has(key)) return fallback;
  auto v = read_int(ctx_.src, node_[key], path_ + "." + key);
  if (v && *v < minimum) {
    ctx_.src.error(node_[key], path_ + "." + key + ": must be at least " + std::to_string(minimum));
    v.reset();
  }
  return or_fail(v, fallback);
}

double KindReader::positive(const char* key, double fallback) {
  if (!has(key)) return fallback;
  auto v = read_double(ctx_.src, node_[key], path_ + "." + key);
  if (v && *v <= 0.0) {
    ctx_.src.error(node_[key], path_ + "." + key + ": must be positive");
    v.reset();
  }
  return or_fail(v, fallback);
}

int64_t KindReader::seed(const char* key) {
  return integer(key, static_cast<int64_t>(ctx_.default_seed), 0);
}

std::vector<int64_t> KindReader::axis(const char* key, int64_t limit, const std::string& what,
                                      const std::string& limit_text) {
  return or_fail(read_axis(ctx_.src, node_[key], path_ + "." + key, limit, what, limit_text),
                 std::vector<int64_t>{});
}

std::vector<int64_t> KindReader::layers() {
  const int64_t n = config() ? config()->n_layers : -1;
  return axis("layers", n, "layer", config() ? range_text(n, "layers") : "");
}

std::vector<int64_t> KindReader::heads(int64_t limit) {
  return axis("heads", limit, "head", range_text(limit, "heads"));
}

std::vector<int64_t> KindReader::positions() {
  const int64_t n = shortest_prompt(ctx_.prompts);
  return or_fail(read_axis(ctx_.src, node_["positions"], path_ + ".positions", n, "position",
                           "shortest prompt has " + plural(n, "tokens"), /*from_end=*/true),
                 std::vector<int64_t>{});
}

std::vector<int64_t> KindReader::neurons() {
  const int64_t n = config() ? config()->d_mlp : -1;
  return axis("neurons", n, "neuron", range_text(n, "MLP neurons"));
}

std::vector<model::HookPoint> KindReader::sites(bool outside_blocks) {
  const Source& src = ctx_.src;
  const model::ModelConfig* c = config();
  std::vector<model::HookPoint> out;
  if (!has("sites")) {
    src.error(node_, path_ + ": missing \"sites\" (e.g. [attn.hook_z] or [hook_resid_pre])");
    ok_ = false;
    return out;
  }
  const YAML::Node list = node_["sites"];
  std::vector<YAML::Node> items;
  if (list.IsSequence()) {
    if (list.size() == 0) src.error(list, path_ + ".sites: empty list");
    for (size_t i = 0; i < list.size(); ++i) items.push_back(list[i]);
  } else {
    items.push_back(list);
  }
  ok_ = ok_ && !items.empty();
  for (size_t i = 0; i < items.size(); ++i) {
    // Appended piecewise: GCC 12 warns (-Wrestrict, a false positive) on "[" + std::string.
    std::string ipath = path_ + ".sites";
    if (list.IsSequence()) ipath.append("[").append(std::to_string(i)).append("]");
    auto site = read_site(src, items[i], ipath, c, outside_blocks);
    if (!site) {
      ok_ = false;
      continue;
    }
    if (site->layer >= 0) site_layers_.push_back(site->layer);
    const std::optional<model::HookPoint> p = site->point;
    if (std::find(out.begin(), out.end(), *p) != out.end()) continue;
    if (!out.empty()) {
      bool same_shape = model::is_head_point(*p) == model::is_head_point(out[0]) &&
                        (!c || c->n_kv_heads == c->n_heads ||
                         model::is_kv_head_point(*p) == model::is_kv_head_point(out[0]));
      if (!same_shape) {
        src.error(items[i], ipath + ": \"" + model::point_suffix(*p) + "\" has other axes than \"" +
                                model::point_suffix(out[0]) +
                                "\"; put sites with and without a head axis in separate analyses");
        ok_ = false;
        continue;
      }
    }
    out.push_back(*p);
  }
  std::sort(site_layers_.begin(), site_layers_.end());
  site_layers_.erase(std::unique(site_layers_.begin(), site_layers_.end()), site_layers_.end());
  return out;
}

}  // namespace csweep::jobs
