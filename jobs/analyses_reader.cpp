#include "jobs/analyses_reader.h"

#include <set>

#include "jobs/yaml_fields.h"

namespace csweep::jobs {
namespace {

std::string joined(const std::vector<std::string>& words) {
  std::string out;
  for (const auto& w : words) out += (out.empty() ? "" : ", ") + w;
  return out;
}

// name and kind here; the rest is the kind's own reader (jobs/kinds/).
std::optional<AnalysisSpec> read_one(const YAML::Node& node, const std::string& path,
                                     const AnalysesContext& ctx) {
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
  std::vector<std::string> keys = {"name", "kind", "layers"};
  keys.insert(keys.end(), a.kind->keys.begin(), a.kind->keys.end());
  check_keys(src, node, path, keys);

  KindReader r(ctx, node, path);
  a.layers = r.layers();
  a.kind->read(r, a);
  if (!ok || !r.ok()) return std::nullopt;
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
    auto a = read_one(node[i], path, ctx);
    if (a && !duplicate) out.push_back(std::move(*a));
  }
  return out;
}

}  // namespace csweep::jobs
