#include "jobs/analyses_reader.h"

#include <algorithm>
#include <set>

#include "jobs/kinds/kind_options.h"
#include "jobs/yaml_fields.h"

namespace csweep::jobs {
namespace {

std::string joined(const std::vector<std::string>& words) {
  std::string out;
  for (const auto& w : words) out += (out.empty() ? "" : ", ") + w;
  return out;
}

// The kinds that can run on chosen cells: their computations read cells through analyses'
// decode_cells (or, the SAE kinds, their feature_grid), which follow a stage's cell list.
bool takes_chosen_cells(const Kind* k) {
  for (const char* name : {"activation_patching", "ablation", "path_patching",
                           "sae_feature_patching", "sae_feature_ablation"})
    if (k->name == name) return true;
  return false;
}
bool takes_ranked_list(const Kind* k) { return k->name == "circuit_faithfulness"; }

std::string axis_text(const Axis& a) {
  std::string s = a.name + " [";
  for (size_t i = 0; i < a.labels.size(); ++i) s += (i ? "," : "") + a.labels[i];
  return s + "]";
}

// The cells an analysis computes per prompt: its grid's, or a stage's chosen ones.
int64_t computed_cells(const AnalysisSpec& a) {
  if (a.stage) return a.stage->cells;
  int64_t n = 1;
  for (const Axis& s : a.kind->grid(a)) n *= s.size;
  return n;
}

// Whether the source's cells are whole heads (attn.hook_z over [layer, head]) or, with `mlps`,
// also whole MLPs (hook_mlp_out over [layer]).
bool ranks_whole_nodes(const AnalysisSpec& source, bool mlps) {
  std::vector<std::string> names;
  for (const Axis& s : source.kind->grid(source)) names.push_back(s.name);
  if (source.sites.size() != 1) return false;
  if (source.sites[0] == model::HookPoint::AttnZ)
    return names == std::vector<std::string>{"layer", "head"};
  return mlps && source.sites[0] == model::HookPoint::MlpOut &&
         names == std::vector<std::string>{"layer"};
}

// The source's cells, ranked, become circuit_faithfulness's node list: they must be whole heads
// or whole MLPs; or, for a circuit of edges (universe: edges), an edge_attribution's edges.
std::optional<StageSpec> ranked_list_stage(StageSpec st, const YAML::Node& node,
                                           const std::string& path, const AnalysesContext& ctx,
                                           const AnalysisSpec& source, bool edges) {
  if (edges ? source.kind->name != "edge_attribution" : !ranks_whole_nodes(source, true)) {
    ctx.src.error(node["analysis"],
                  path + ".analysis: \"" + st.from +
                      (edges ? "\" is not an edge_attribution, which a circuit of edges ranks "
                               "its edges by"
                             : "\" does not rank whole heads (attn.hook_z over [layer, head]) or "
                               "MLPs (hook_mlp_out over [layer]), the nodes of a circuit"));
    return std::nullopt;
  }
  if (st.plus_random > 0) {
    ctx.src.error(node["plus_random"], path + ".plus_random: a circuit's " +
                                           (edges ? "edges" : "nodes") + " are the top_k only");
    return std::nullopt;
  }
  st.source_cells = computed_cells(source);
  return st;
}

// `from: {analysis, top_k, plus_random, seed}`; `earlier` are the analyses read before this one.
// Every axis of the source's grid must be an axis of this analysis's grid with the same entries:
// a chosen source cell then names the cells of this grid that share its coordinates.
std::optional<StageSpec> read_stage(const YAML::Node& node, const std::string& path,
                                    const AnalysesContext& ctx, const AnalysisSpec& a,
                                    const std::vector<AnalysisSpec>& earlier) {
  const Source& src = ctx.src;
  if (!expect_map(src, node, path)) return std::nullopt;
  check_keys(src, node, path, {"analysis", "top_k", "plus_random", "seed"});
  StageSpec st;
  st.seed = ctx.default_seed;
  bool ok = true;
  auto count = [&](const char* key, int64_t minimum, bool required) -> int64_t {
    const std::string field = path + "." + key;
    if (!node[key]) {
      if (required) src.error(node, field + ": missing");
      ok = ok && !required;
      return 0;
    }
    auto v = read_int(src, node[key], field);
    if (v && *v < minimum)
      src.error(node[key], field + ": must be at least " + std::to_string(minimum) + ", got " +
                               std::to_string(*v));
    ok = ok && v && *v >= minimum;
    return v.value_or(0);
  };
  st.top_k = count("top_k", 1, true);
  st.plus_random = count("plus_random", 0, false);
  if (node["seed"]) {
    auto v = read_int(src, node["seed"], path + ".seed");
    if (v && *v < 0) src.error(node["seed"], path + ".seed: must be at least 0");
    ok = ok && v && *v >= 0;
    st.seed = static_cast<uint64_t>(v.value_or(0));
  }
  if (!node["analysis"]) {
    src.error(node, path + ".analysis: missing (the name of an earlier analysis)");
    return std::nullopt;
  }
  auto from = read_string(src, node["analysis"], path + ".analysis");
  if (!from || !ok) return std::nullopt;
  st.from = *from;
  const YAML::Node at = node["analysis"];
  st.ranked_list = takes_ranked_list(a.kind);
  if (!takes_chosen_cells(a.kind) && !st.ranked_list) {
    src.error(at, path + ": kind " + a.kind->name +
                      " cannot run on chosen cells (stages: activation_patching, ablation, "
                      "path_patching, sae_feature_patching, sae_feature_ablation, "
                      "circuit_faithfulness)");
    return std::nullopt;
  }
  if (a.sites.size() > 1) {
    src.error(at, path + ": a stage analysis takes one site, this one has " +
                      std::to_string(a.sites.size()));
    return std::nullopt;
  }
  size_t i = 0;
  while (i < earlier.size() && earlier[i].name != st.from) ++i;
  if (i == earlier.size()) {
    src.error(at, path + ".analysis: no earlier analysis is named \"" + st.from + "\"");
    return std::nullopt;
  }
  const AnalysisSpec& source = earlier[i];
  if (source.kind->whole_prompt_set) {
    src.error(at, path + ".analysis: \"" + st.from + "\" (" + source.kind->name +
                      ") has one result for the whole prompt set, not cells to choose from");
    return std::nullopt;
  }
  st.source = static_cast<uint32_t>(i);
  if (st.ranked_list)
    return ranked_list_stage(st, node, path, ctx, source,
                             a.options_as<CircuitFaithfulnessOptions>().universe == "edges");
  const std::vector<Axis> mine = a.kind->grid(a);
  int64_t per_source_cell = 1;
  for (const Axis& axis : mine) {
    // A receiver axis indexes the chosen heads themselves (path patching between survivors).
    if (axis.name == "receiver" && !ranks_whole_nodes(source, false)) {
      src.error(at, path + ".analysis: \"" + st.from +
                        "\" does not rank whole heads (attn.hook_z over [layer, head]), the "
                        "receivers: {chosen: ...} need");
      return std::nullopt;
    }
    if (axis.name == "receiver" && st.top_k + st.plus_random > computed_cells(source)) {
      src.error(node["top_k"], path + ": top_k + plus_random is " +
                                   std::to_string(st.top_k + st.plus_random) + ", \"" + st.from +
                                   "\" has " + std::to_string(computed_cells(source)) +
                                   " heads (receivers: {chosen: ...} has a slot for each)");
      return std::nullopt;
    }
    bool shared = false;
    for (const Axis& s : source.kind->grid(source)) shared = shared || s.name == axis.name;
    if (!shared) per_source_cell *= axis.size;
  }
  for (const Axis& s : source.kind->grid(source)) {
    const Axis* match = nullptr;
    for (const Axis& axis : mine)
      if (axis.name == s.name) match = &axis;
    if (!match || match->values != s.values) {
      src.error(at, path + ".analysis: \"" + st.from + "\" has axis " + axis_text(s) + "; " +
                        (match ? "this analysis has " + axis_text(*match)
                               : "this analysis has no " + s.name + " axis") +
                        " (a stage's grid must hold every axis of its source's, with the same "
                        "entries)");
      return std::nullopt;
    }
  }
  st.source_cells = computed_cells(source);  // a stage source: only its chosen cells
  st.cells = std::min(st.top_k + st.plus_random, st.source_cells) * per_source_cell;
  return st;
}

// name and kind here; the rest is the kind's own reader (jobs/kinds/).
std::optional<AnalysisSpec> read_one(const YAML::Node& node, const std::string& path,
                                     const AnalysesContext& ctx,
                                     const std::vector<AnalysisSpec>& earlier) {
  const Source& src = ctx.src;
  if (!expect_map(src, node, path)) return std::nullopt;
  AnalysisSpec a;
  bool ok = true;
  if (!node["name"]) {
    src.error(node, path + ": missing \"name\"");
    ok = false;
  } else if (auto name = read_string(src, node["name"], path + ".name")) {
    a.name = *name;
  } else {
    ok = false;
  }
  if (!node["kind"]) {
    src.error(node, path + ": missing \"kind\" (one of " + joined(kind_names()) + ")");
    return std::nullopt;
  }
  auto kind_text = read_choice(src, node["kind"], path + ".kind", kind_names());
  if (!kind_text) return std::nullopt;
  a.kind = find_kind(*kind_text);
  std::vector<std::string> keys = {"name", "kind", "layers", "from"};
  keys.insert(keys.end(), a.kind->keys.begin(), a.kind->keys.end());
  check_keys(src, node, path, keys);

  KindReader r(ctx, node, path);
  a.layers = r.layers();
  a.kind->read(r, a);
  if (!ok || !r.ok()) return std::nullopt;
  if (node["from"]) {
    a.stage = read_stage(node["from"], path + ".from", ctx, a, earlier);
    if (!a.stage) return std::nullopt;
  }
  return a;
}

}  // namespace

std::vector<const Kind*> peek_kinds(const YAML::Node& node) {
  std::vector<const Kind*> kinds;
  if (!node.IsSequence()) return kinds;
  for (const auto& a : node)
    if (a.IsMap() && a["kind"] && a["kind"].IsScalar())
      if (const Kind* k = find_kind(a["kind"].Scalar())) kinds.push_back(k);
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
    if (duplicate)
      src.error(name, path + ".name: duplicate analysis name \"" + name.Scalar() + "\"");
    auto a = read_one(node[i], path, ctx, out);
    if (a && !duplicate) out.push_back(std::move(*a));
  }
  return out;
}

}  // namespace csweep::jobs
