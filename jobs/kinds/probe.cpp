// probe: a linear probe per (site, layer, token) fitted on the job's labelled prompts (a class id
// or a float target per prompt, `label:`), with a seeded held-out split and a shuffled-label
// control. One shard item covers the whole prompt set (Kind::whole_prompt_set). Computed in
// analyses/probe_cells.cpp.
#include <charconv>
#include <set>

#include "jobs/kinds/kind_options.h"
#include "jobs/kinds/kind_reader.h"
#include "jobs/yaml_fields.h"

namespace csweep::jobs {
namespace {

const std::vector<std::string> kTargets = {"class", "value"};
const std::vector<std::string> kProbeSites = {"hook_resid_pre", "hook_resid_mid", "hook_resid_post",
                                              "hook_attn_out", "hook_mlp_out"};

std::string number_text(double v) {
  char buf[32];
  return std::string(buf, std::to_chars(buf, buf + sizeof buf, v).ptr);
}

std::string token_label(int64_t t) { return t == -1 ? "last" : std::to_string(t); }

// `tokens: [last, 0, -2]`: "last" or a position (negative: from the end of each prompt), every
// one inside the shortest prompt.
std::vector<int64_t> read_tokens(KindReader& r) {
  if (!r.has("tokens")) return {-1};
  const Source& src = r.context().src;
  const YAML::Node& node = r.node()["tokens"];
  const std::string path = r.path() + ".tokens";
  if (!expect_sequence(src, node, path)) return r.record(false), std::vector<int64_t>{-1};
  if (node.size() == 0) r.error("tokens", "empty list (list at least one token, e.g. [last])");
  int64_t shortest = -1;
  if (const auto* prompts = r.context().prompts)
    for (const auto& p : *prompts)
      if (shortest < 0 || p.n_tokens() < shortest) shortest = p.n_tokens();
  std::vector<int64_t> tokens;
  for (size_t i = 0; i < node.size(); ++i) {
    const std::string at = path + "[" + std::to_string(i) + "]";
    std::optional<int64_t> t;
    if (node[i].IsScalar() && node[i].Scalar() == "last")
      t = -1;
    else if (!node[i].IsScalar() || !(t = read_int(src, node[i], at)))
      t.reset();
    if (!t) {
      if (!node[i].IsScalar()) src.error(node[i], at + ": expected \"last\" or a position");
      r.record(false);
      continue;
    }
    if (shortest > 0 && (*t >= shortest || *t < -shortest)) {
      src.error(node[i], at + ": position " + node[i].Scalar() +
                             " is outside the shortest prompt (" + std::to_string(shortest) +
                             " tokens)");
      r.record(false);
    } else if (std::find(tokens.begin(), tokens.end(), *t) != tokens.end()) {
      src.error(node[i], at + ": token " + node[i].Scalar() + " listed twice");
      r.record(false);
    } else {
      tokens.push_back(*t);
    }
  }
  return tokens;
}

// Every prompt needs a label (class: a non-negative integer), and the split needs a prompt on
// each side.
void check_labels(KindReader& r, const ProbeOptions& o) {
  const auto* prompts = r.context().prompts;
  if (!prompts || prompts->empty()) return;  // the prompts' own errors say why
  std::set<double> classes;
  for (const auto& p : *prompts) {
    if (!p.label)
      return r.error("target", "prompt \"" + p.id + "\" has no label (give each prompt `label:`)");
    if (o.target == "class" &&
        (*p.label < 0 || *p.label != static_cast<int64_t>(*p.label) || *p.label > 1e6))
      return r.error("target", "prompt \"" + p.id + "\": label " + number_text(*p.label) +
                                   " is not a class id (a non-negative integer); use target: value "
                                   "for float targets");
    classes.insert(*p.label);
  }
  if (classes.size() < 2)
    r.error("target", "every prompt has the same label; a probe needs at least two values");
  const auto n = static_cast<double>(prompts->size());
  const auto held = static_cast<int64_t>(o.held_out * n + 0.5);
  if (held < 1 || held >= static_cast<int64_t>(prompts->size()))
    r.error("held_out", "holds out " + std::to_string(held) + " of " +
                            std::to_string(prompts->size()) +
                            " prompts; both the training and the held-out set need one");
}

void read_probe(KindReader& r, AnalysisSpec& a) {
  auto o = std::make_shared<ProbeOptions>();
  o->target = r.choice("target", kTargets, o->target);
  for (const auto& name : r.choices("sites", kProbeSites, {"hook_resid_post"})) {
    const model::HookSite site = *model::parse_hook_site("blocks.0." + name);
    if (std::string why; r.config() && !model::site_exists(site, *r.config(), &why))
      r.error("sites", "\"" + name + "\" does not exist in this model: " + why);
    a.sites.push_back(site.point);
  }
  o->tokens = read_tokens(r);
  o->l2 = r.positive("l2", o->l2);
  o->held_out = r.positive("held_out", o->held_out);
  if (o->held_out >= 1.0) r.error("held_out", "must be below 1 (a fraction of the prompts)");
  o->seed = r.seed("seed");
  o->quantities = r.choices("quantities", kProbeQuantities, kProbeQuantities);
  if (r.ok()) check_labels(r, *o);
  a.options = o;
}

// [site, layer, token, quantity]: the probe's and its control's scores of one fit are adjacent.
std::vector<Axis> probe_grid(const AnalysisSpec& a) {
  const auto& o = a.options_as<ProbeOptions>();
  Axis site{"site", static_cast<int64_t>(a.sites.size()), {}, {}};
  for (model::HookPoint p : a.sites) {
    site.labels.push_back(model::point_suffix(p));
    site.values.push_back(static_cast<int64_t>(p));
  }
  Axis token{"token", static_cast<int64_t>(o.tokens.size()), {}, o.tokens};
  for (int64_t t : o.tokens) token.labels.push_back(token_label(t));
  return {site, index_axis("layer", a.layers), token,
          named_axis("quantity", o.quantities, kProbeQuantities)};
}

// One unedited forward per prompt (training and held-out prompts alike), and per prompt and fit
// (site x layer x token) the outer product added to XᵀX: 2 (d_model + 1)² FLOPs. The solves,
// (d_model + 1)³ per fit and class count, are not counted.
KindCost probe_cost(const AnalysisSpec& a, const model::ModelConfig& c) {
  KindCost cost;
  cost.prompt_forwards = 1.0;
  const auto& o = a.options_as<ProbeOptions>();
  const double fits = static_cast<double>(a.sites.size() * a.layers.size() * o.tokens.size());
  const auto d = static_cast<double>(c.d_model + 1);
  cost.prompt_other_flops = fits * 2.0 * d * d;
  return cost;
}

}  // namespace

nlohmann::json ProbeOptions::to_json() const {
  return {{"target", target},     {"tokens", tokens}, {"l2", l2},
          {"held_out", held_out}, {"seed", seed},     {"quantities", quantities}};
}

const Kind& probe_kind() {
  static const Kind k = [] {
    Kind k;
    k.name = "probe";
    k.keys = {"target", "sites", "tokens", "l2", "held_out", "seed", "quantities"};
    k.uses_metric = false;
    k.whole_prompt_set = true;
    k.read = read_probe;
    k.grid = probe_grid;
    k.cost = probe_cost;
    k.reduce.colour_scale = ColourScale::Sequential;
    k.reduce.value_label = "held-out accuracy (class) or R² (value)";
    k.reduce.quantity_axis = "quantity";
    k.reduce.quantities = {
        {"score", "held-out accuracy (class) or R² (value)", ColourScale::Sequential},
        {"control", "held-out score with shuffled training labels", ColourScale::Sequential},
    };
    return k;
  }();
  return k;
}

}  // namespace csweep::jobs
