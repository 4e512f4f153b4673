#include "jobs/analyses_reader.h"

#include <algorithm>
#include <set>

#include "jobs/yaml_fields.h"
#include "model/hook_site.h"

namespace csweep::jobs {
namespace {

const std::vector<std::string> kKinds = {"activation_patching", "ablation", "causal_tracing", "logit_lens",
                                         "direct_logit_attribution", "attention_scores", "attribution_patching"};

std::vector<std::string> keys_of(AnalysisKind kind) {
  std::vector<std::string> keys = {"name", "kind", "layers"};
  switch (kind) {
    case AnalysisKind::ActivationPatching:
      keys.insert(keys.end(), {"sites", "direction", "patch", "heads", "positions"});
      break;
    case AnalysisKind::AttributionPatching:
      keys.insert(keys.end(), {"sites", "patch", "qk_fix", "heads", "positions"});
      break;
    case AnalysisKind::Ablation:
      keys.insert(keys.end(), {"method", "target", "reference", "mean_over", "seed", "heads", "neurons"});
      break;
    case AnalysisKind::CausalTracing:
      keys.insert(keys.end(), {"noise_multiplier", "noise_std", "seed", "samples", "window", "restore", "positions"});
      break;
    case AnalysisKind::LogitLens:
      keys.insert(keys.end(), {"quantities"});
      break;
    case AnalysisKind::DirectLogitAttribution:
      keys.insert(keys.end(), {"components", "heads"});
      break;
    case AnalysisKind::AttentionScores:
      keys.insert(keys.end(), {"scores", "heads"});
      break;
  }
  return keys;
}

std::vector<std::string> block_site_names() {
  std::vector<std::string> names;
  for (int i = 0; i < model::kHookPointCount; ++i) {
    auto p = static_cast<model::HookPoint>(i);
    if (model::is_block_point(p)) names.push_back(model::point_suffix(p));
  }
  return names;
}

std::optional<model::HookPoint> read_site(const Source& src, const YAML::Node& node, const std::string& path,
                                          const model::ModelConfig* config) {
  auto name = read_string(src, node, path);
  if (!name) return std::nullopt;
  auto site = model::parse_hook_site("blocks.0." + *name);
  if (!site) {
    auto full = model::parse_hook_site(*name);
    if (full && model::is_block_point(full->point)) {
      src.error(node, path + ": write the block-relative name \"" + model::point_suffix(full->point) +
                          "\" and choose layers with \"layers:\"");
    } else if (full) {
      src.error(node, path + ": \"" + *name + "\" is not inside a block; sweeps patch block sites");
    } else {
      src.error(node, path + ": unknown hook site \"" + *name + "\"" + did_you_mean(*name, block_site_names()));
    }
    return std::nullopt;
  }
  std::string why;
  if (config && !model::site_exists(*site, *config, &why)) {
    src.error(node, path + ": hook site \"" + *name + "\" does not exist in this model: " + why);
    return std::nullopt;
  }
  return site->point;
}

struct Reader {
  const AnalysesContext& ctx;
  const Source& src;
  const YAML::Node& node;
  std::string path;
  bool ok = true;

  template <typename T>
  T fail_on(std::optional<T> v, T fallback) {
    if (!v) {
      ok = false;
      return fallback;
    }
    return *v;
  }
  std::string choice(const char* key, const std::vector<std::string>& choices, const std::string& fallback) {
    if (!node[key]) return fallback;
    return fail_on(read_choice(src, node[key], path + "." + key, choices), fallback);
  }
  bool flag(const char* key, bool fallback) {
    if (!node[key]) return fallback;
    return fail_on(read_bool(src, node[key], path + "." + key), fallback);
  }
  int64_t integer(const char* key, int64_t fallback, int64_t minimum) {
    if (!node[key]) return fallback;
    auto v = read_int(src, node[key], path + "." + key);
    if (v && *v < minimum) {
      src.error(node[key], path + "." + key + ": must be at least " + std::to_string(minimum));
      v.reset();
    }
    return fail_on(v, fallback);
  }
  double number(const char* key, double fallback) {
    if (!node[key]) return fallback;
    auto v = read_double(src, node[key], path + "." + key);
    if (v && *v <= 0.0) {
      src.error(node[key], path + "." + key + ": must be positive");
      v.reset();
    }
    return fail_on(v, fallback);
  }
  std::vector<int64_t> axis(const char* key, int64_t limit, const std::string& what, const std::string& limit_text) {
    return fail_on(read_axis(src, node[key], path + "." + key, limit, what, limit_text), std::vector<int64_t>{});
  }
};

int64_t shortest_prompt(const std::vector<PromptPair>* prompts) {
  if (!prompts || prompts->empty()) return -1;
  int64_t n = INT64_MAX;
  for (const auto& p : *prompts) n = std::min(n, p.n_tokens());
  return n;
}

std::string plural(int64_t n, const char* what) { return std::to_string(n) + " " + what; }

std::optional<AnalysisSpec> read_one(const YAML::Node& node, const std::string& path, const AnalysesContext& ctx) {
  const Source& src = ctx.src;
  if (!expect_map(src, node, path)) return std::nullopt;
  AnalysisSpec a;
  Reader r{ctx, src, node, path};
  if (!node["name"]) {
    src.error(node, path + ": missing \"name\"");
    r.ok = false;
  } else {
    a.name = r.fail_on(read_string(src, node["name"], path + ".name"), std::string());
  }
  if (!node["kind"]) {
    src.error(node, path + ": missing \"kind\" (one of activation_patching, ablation, causal_tracing, logit_lens, "
                        "direct_logit_attribution, attention_scores, attribution_patching)");
    return std::nullopt;
  }
  auto kind_text = read_choice(src, node["kind"], path + ".kind", kKinds);
  if (!kind_text) return std::nullopt;
  a.kind = *parse_kind(*kind_text);
  check_keys(src, node, path, keys_of(a.kind));

  const model::ModelConfig* c = ctx.config;
  int64_t n_layers = c ? c->n_layers : -1;
  int64_t n_heads = c ? c->n_heads : -1;
  int64_t n_tokens = shortest_prompt(ctx.prompts);
  std::string layers_text = c ? "model has " + plural(n_layers, "layers") + ": 0.." + std::to_string(n_layers - 1) : "";
  std::string tokens_text = "shortest prompt has " + plural(n_tokens, "tokens");
  auto heads_axis = [&](int64_t limit) {
    return r.axis("heads", limit, "head", "model has " + plural(limit, "heads") + ": 0.." + std::to_string(limit - 1));
  };
  a.layers = r.axis("layers", n_layers, "layer", layers_text);
  auto& o = a.options;

  switch (a.kind) {
    case AnalysisKind::ActivationPatching:
    case AnalysisKind::AttributionPatching: {
      if (!node["sites"]) {
        src.error(node, path + ": missing \"sites\" (e.g. [attn.hook_z] or [hook_resid_pre])");
        r.ok = false;
      } else {
        const YAML::Node sites = node["sites"];
        std::vector<YAML::Node> items;
        if (sites.IsSequence()) {
          if (sites.size() == 0) src.error(sites, path + ".sites: empty list");
          for (size_t i = 0; i < sites.size(); ++i) items.push_back(sites[i]);
        } else {
          items.push_back(sites);
        }
        r.ok = r.ok && !items.empty();
        for (size_t i = 0; i < items.size(); ++i) {
          std::string ipath = path + ".sites" + (sites.IsSequence() ? "[" + std::to_string(i) + "]" : "");
          auto p = read_site(src, items[i], ipath, c);
          if (!p) {
            r.ok = false;
            continue;
          }
          if (std::find(a.sites.begin(), a.sites.end(), *p) != a.sites.end()) continue;
          if (!a.sites.empty()) {
            bool same_shape = model::is_head_point(*p) == model::is_head_point(a.sites[0]) &&
                              (!c || c->n_kv_heads == c->n_heads ||
                               model::is_kv_head_point(*p) == model::is_kv_head_point(a.sites[0]));
            if (!same_shape) {
              src.error(items[i], ipath + ": \"" + model::point_suffix(*p) + "\" has other axes than \"" +
                                      model::point_suffix(a.sites[0]) +
                                      "\"; put sites with and without a head axis in separate analyses");
              r.ok = false;
              continue;
            }
          }
          a.sites.push_back(*p);
        }
      }
      bool head_sites = !a.sites.empty() && model::is_head_point(a.sites[0]);
      bool kv = head_sites && model::is_kv_head_point(a.sites[0]);
      if (head_sites) {
        a.heads = heads_axis(c ? (kv ? c->n_kv_heads : c->n_heads) : -1);
      } else if (node["heads"]) {
        src.error(node["heads"], path + ".heads: the sites have no head axis");
        r.ok = false;
      }
      std::string patch = r.choice("patch", {"per_position", "all_positions"}, "per_position");
      o["per_position"] = patch == "per_position";
      a.positions = r.axis("positions", n_tokens, "position", tokens_text);
      if (a.kind == AnalysisKind::ActivationPatching)
        o["direction"] = r.choice("direction", {"denoising", "noising"}, "denoising");
      else
        o["qk_fix"] = r.flag("qk_fix", false);
      break;
    }
    case AnalysisKind::Ablation: {
      const std::string method = r.choice("method", {"zero", "mean", "resample"}, "zero");
      o["method"] = method;
      // TransformerLens's mean ablation averages over prompts and positions; circuit work on
      // templated prompts (IOI) often wants one mean per position over the prompts.
      if (method == "mean") {
        o["mean_over"] = r.choice("mean_over", {"prompts_and_positions", "prompts"}, "prompts_and_positions");
      } else if (node["mean_over"]) {
        src.error(node["mean_over"], path + ".mean_over: only method mean takes a mean");
        r.ok = false;
      }
      std::string target = r.choice("target", {"heads", "mlp", "layer", "neuron"}, "heads");
      o["target"] = target;
      o["reference"] = r.choice("reference", {"clean", "corrupted"}, "clean");
      o["seed"] = r.integer("seed", static_cast<int64_t>(ctx.default_seed), 0);
      if (target == "heads") a.heads = heads_axis(n_heads);
      else if (node["heads"]) {
        src.error(node["heads"], path + ".heads: only target heads has a head axis");
        r.ok = false;
      }
      if (target == "neuron") {
        int64_t d_mlp = c ? c->d_mlp : -1;
        o["neurons"] = r.axis("neurons", d_mlp, "neuron",
                              "model has " + plural(d_mlp, "MLP neurons") + ": 0.." + std::to_string(d_mlp - 1));
      } else if (node["neurons"]) {
        src.error(node["neurons"], path + ".neurons: only target neuron has a neuron axis");
        r.ok = false;
      }
      break;
    }
    case AnalysisKind::CausalTracing: {
      o["noise_multiplier"] = r.number("noise_multiplier", 3.0);
      o["noise_std"] = nullptr;
      if (node["noise_std"]) o["noise_std"] = r.number("noise_std", 0.0);
      o["seed"] = r.integer("seed", static_cast<int64_t>(ctx.default_seed), 0);
      o["samples"] = r.integer("samples", 10, 1);
      o["window"] = r.integer("window", 1, 1);
      o["restore"] = r.choice("restore", {"resid", "attn", "mlp"}, "resid");
      a.positions = r.axis("positions", n_tokens, "position", tokens_text);
      if (ctx.prompts) {
        for (const auto& p : *ctx.prompts) {
          if (p.subject.empty()) {
            src.error(node["kind"], path + ": causal_tracing needs a subject span on every prompt; prompt \"" + p.id +
                                        "\" has none (set subject: [begin, end])");
            r.ok = false;
            break;
          }
        }
      }
      break;
    }
    case AnalysisKind::LogitLens: {
      std::vector<std::string> fallback = {"prob", "rank"};
      if (ctx.metric == Metric::LogitDiff) fallback.push_back("logit_diff");
      std::vector<std::string> q = fallback;
      if (node["quantities"])
        q = r.fail_on(read_choices(src, node["quantities"], path + ".quantities",
                                   {"prob", "logprob", "rank", "logit_diff", "top_token"}),
                      fallback);
      o["quantities"] = q;
      break;
    }
    case AnalysisKind::DirectLogitAttribution: {
      std::string comp = r.choice("components", {"heads", "mlp", "layer"}, "heads");
      o["components"] = comp;
      if (comp == "heads") a.heads = heads_axis(n_heads);
      else if (node["heads"]) {
        src.error(node["heads"], path + ".heads: only components heads has a head axis");
        r.ok = false;
      }
      break;
    }
    case AnalysisKind::AttentionScores: {
      std::vector<std::string> all = {"previous_token", "duplicate_token", "induction"};
      std::vector<std::string> s = all;
      if (node["scores"]) s = r.fail_on(read_choices(src, node["scores"], path + ".scores", all), all);
      o["scores"] = s;
      a.heads = heads_axis(n_heads);
      break;
    }
  }
  if (!r.ok) return std::nullopt;
  return a;
}

}  // namespace

std::vector<AnalysisKind> peek_kinds(const YAML::Node& node) {
  std::vector<AnalysisKind> kinds;
  if (!node.IsSequence()) return kinds;
  for (const auto& a : node)
    if (a.IsMap() && a["kind"] && a["kind"].IsScalar())
      if (auto k = parse_kind(a["kind"].Scalar())) kinds.push_back(*k);
  return kinds;
}

std::vector<AnalysisSpec> read_analyses(const YAML::Node& node, const AnalysesContext& ctx) {
  const Source& src = ctx.src;
  std::vector<AnalysisSpec> out;
  if (!node) {
    src.error(YAML::Mark::null_mark(), "analyses: missing (list at least one analysis)");
    return out;
  }
  if (!expect_sequence(src, node, "analyses")) return out;
  if (node.size() == 0) {
    src.error(node, "analyses: empty list (list at least one analysis)");
    return out;
  }
  std::set<std::string> names;
  for (size_t i = 0; i < node.size(); ++i) {
    std::string path = "analyses[" + std::to_string(i) + "]";
    const YAML::Node name = node[i].IsMap() ? node[i]["name"] : YAML::Node();
    bool duplicate = name && name.IsScalar() && !names.insert(name.Scalar()).second;
    if (duplicate) src.error(name, path + ".name: duplicate analysis name \"" + name.Scalar() + "\"");
    auto a = read_one(node[i], path, ctx);
    if (a && !duplicate) out.push_back(std::move(*a));
  }
  return out;
}

}  // namespace csweep::jobs
