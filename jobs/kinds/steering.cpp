// steering: scale x v added at a residual-stream site, over a grid of layers, scales (and
// positions); v from a file or the mean difference of two sets of the job's prompts.
#include <algorithm>
#include <charconv>

#include "common/sha256.h"
#include "jobs/kinds/direction_file.h"
#include "jobs/kinds/kind_options.h"
#include "jobs/kinds/kind_reader.h"
#include "jobs/yaml_fields.h"
#include "model/safetensors.h"

namespace csweep::jobs {
namespace {

const std::vector<double> kDefaultScales = {-8, -4, -2, 0, 2, 4, 8};

std::vector<double> read_scales(KindReader& r) {
  if (!r.has("scales")) return kDefaultScales;
  const Source& src = r.context().src;
  const YAML::Node& node = r.node()["scales"];
  const std::string path = r.path() + ".scales";
  if (!expect_sequence(src, node, path)) {
    r.record(false);
    return kDefaultScales;
  }
  if (node.size() == 0) r.error("scales", "empty list (list at least one scale)");
  std::vector<double> scales;
  for (size_t i = 0; i < node.size(); ++i) {
    const std::string at = path + "[" + std::to_string(i) + "]";
    const auto v = read_double(src, node[i], at);
    if (v && std::find(scales.begin(), scales.end(), *v) != scales.end())
      src.error(node[i], at + ": scale " + node[i].Scalar() + " listed twice");
    else if (v)
      scales.push_back(*v);
    r.record(scales.size() == i + 1);
  }
  return scales;
}

// The direction's shape against the model: [d_model] or [n_layers, d_model].
std::string shape_problem(const std::vector<int64_t>& shape, const model::ModelConfig& c) {
  if (shape.size() == 1 && shape[0] == c.d_model) return "";
  if (shape.size() == 2 && shape[0] == c.n_layers && shape[1] == c.d_model) return "";
  return "shape " + model::format_shape(shape) + " is neither [d_model] = [" +
         std::to_string(c.d_model) + "] nor [n_layers, d_model] = [" + std::to_string(c.n_layers) +
         ", " + std::to_string(c.d_model) + "]";
}

void read_direction_from_file(KindReader& d, SteeringOptions& o) {
  const YAML::Node& node = d.node();
  const auto file = read_string(d.context().src, node["file"], d.path() + ".file");
  std::optional<std::string> tensor = std::string();
  if (d.has("tensor")) tensor = read_string(d.context().src, node["tensor"], d.path() + ".tensor");
  if (!file || !tensor) return d.record(false);  // read_string reported it
  o.file = *file;
  o.tensor = *tensor;
  const std::filesystem::path job_dir = std::filesystem::path(d.context().src.file).parent_path();
  try {
    DirectionValues v = read_direction_file(job_dir / o.file, o.tensor);
    o.shape = std::move(v.shape);
    o.values = std::move(v.values);
  } catch (const DirectionFileError& e) {
    return d.error(e.field.c_str(), e.reason);
  }
  if (const model::ModelConfig* c = d.config())
    if (std::string why = shape_problem(o.shape, *c); !why.empty())
      d.error(o.tensor.empty() ? "file" : "tensor", why);
}

// `labels: [a, b]` of a `{labels: ...}` map: the clean prompts labelled a against those labelled b.
void read_label_sets(KindReader& m, SteeringOptions& o) {
  const Source& src = m.context().src;
  const std::string path = m.path() + ".labels";
  if (!m.has("labels"))
    return m.fail("labels", "missing \"labels\" (two prompt labels, e.g. [1, 0])");
  const YAML::Node& node = m.node()["labels"];
  if (!expect_sequence(src, node, path)) return m.record(false);
  for (size_t i = 0; i < node.size(); ++i) {
    const auto v = read_double(src, node[i], path + "[" + std::to_string(i) + "]");
    if (!v) return m.record(false);
    o.labels.push_back(*v);
  }
  if (o.labels.size() != 2 || o.labels[0] == o.labels[1])
    return m.error("labels", "expected two different prompt labels: [plus, minus]");
  if (const auto* prompts = m.context().prompts)
    for (size_t i = 0; i < 2; ++i)
      if (std::none_of(prompts->begin(), prompts->end(),
                       [&](const PromptPair& p) { return p.label == o.labels[i]; }))
        return m.error("labels", "no prompt has label " + node[i].Scalar());
}

// `mean_difference: [clean, corrupted]` (or the other way round), or `{labels: [a, b]}`.
void read_mean_difference(KindReader& d, SteeringOptions& o) {
  if (d.has("mean_difference") && d.node()["mean_difference"].IsMap()) {
    const YAML::Node& node = d.node()["mean_difference"];
    KindReader m(d.context(), node, d.path() + ".mean_difference");
    check_keys(d.context().src, node, m.path(), {"labels"});
    read_label_sets(m, o);
    return d.record(m.ok());
  }
  o.mean_difference = d.choices("mean_difference", {"clean", "corrupted"}, {"clean", "corrupted"});
  if (o.mean_difference.size() != 2 || o.mean_difference[0] == o.mean_difference[1])
    return d.error("mean_difference",
                   "expected two different prompt sets: [clean, corrupted] or "
                   "[corrupted, clean], or {labels: [plus, minus]}");
  if (const auto* prompts = d.context().prompts)
    for (const auto& p : *prompts)
      if (p.corrupted.empty())
        return d.error("mean_difference", "prompt \"" + p.id + "\" has no corrupted prompt");
}

// `probe: {labels: [a, b], l2: x}`: a ridge probe's weight per layer.
void read_probe_direction(KindReader& d, SteeringOptions& o) {
  const YAML::Node& node = d.node()["probe"];
  KindReader m(d.context(), node, d.path() + ".probe");
  if (!expect_map(d.context().src, node, m.path())) return d.record(false);
  check_keys(d.context().src, node, m.path(), {"labels", "l2"});
  o.probe = true;
  o.probe_l2 = m.positive("l2", o.probe_l2);
  read_label_sets(m, o);
  d.record(m.ok());
}

// `direction: {file: F, tensor: T}`, `{mean_difference: ...}` (the default: [clean, corrupted])
// or `{probe: {labels: [a, b]}}`.
void read_direction(KindReader& r, SteeringOptions& o) {
  static const YAML::Node none(YAML::NodeType::Map);
  const YAML::Node node = r.has("direction") ? r.node()["direction"] : none;
  KindReader d(r.context(), node, r.path() + ".direction");
  if (r.has("direction") && expect_map(r.context().src, node, d.path())) {
    check_keys(r.context().src, node, d.path(), {"file", "tensor", "mean_difference", "probe"});
    if (d.has("file") + d.has("mean_difference") + d.has("probe") != 1)
      d.fail("file", "give one of file (and tensor), mean_difference or probe");
    else if (d.has("file"))
      read_direction_from_file(d, o);
    else if (d.has("tensor"))
      d.error("tensor", "only a direction file has tensors");
    else if (d.has("probe"))
      read_probe_direction(d, o);
  } else if (r.has("direction")) {
    d.record(false);  // expect_map reported it
  }
  if (d.ok() && o.file.empty() && !o.probe) read_mean_difference(d, o);
  r.record(d.ok());
}

void read_steering(KindReader& r, AnalysisSpec& a) {
  auto o = std::make_shared<SteeringOptions>();
  o->site = r.choice("site", kSteeringSites, o->site);
  std::string why;
  const model::HookSite site = *model::parse_hook_site("blocks.0." + o->site);
  if (r.config() && !model::site_exists(site, *r.config(), &why))
    r.error("site", "\"" + o->site + "\" does not exist in this model: " + why);
  o->scales = read_scales(r);
  o->quantities = r.choices("quantities", kSteeringQuantities, kSteeringQuantities);
  o->normalize = r.flag("normalize", false);
  if (r.has("positions")) a.positions = r.positions();
  read_direction(r, *o);
  a.options = o;
}

std::string scale_label(double s) {
  char buf[32];
  const auto end = std::to_chars(buf, buf + sizeof buf, s).ptr;
  return std::string(buf, end);
}

// [layer, (pos,) scale, quantity]: the quantities of one steered run are adjacent cells.
std::vector<Axis> steering_grid(const AnalysisSpec& a) {
  const auto& o = a.options_as<SteeringOptions>();
  std::vector<Axis> axes{index_axis("layer", a.layers)};
  if (!a.positions.empty()) axes.push_back(index_axis("pos", a.positions));
  Axis scale{"scale", static_cast<int64_t>(o.scales.size()), {}, {}};
  for (size_t i = 0; i < o.scales.size(); ++i) {
    scale.labels.push_back(scale_label(o.scales[i]));
    scale.values.push_back(static_cast<int64_t>(i));
  }
  axes.push_back(scale);
  axes.push_back(named_axis("quantity", o.quantities, kSteeringQuantities));
  return axes;
}

KindCost steering_cost(const AnalysisSpec& a, const model::ModelConfig&) {
  KindCost cost;
  cost.per_cell_forward = true;  // one steered run per (layer, pos, scale), from its layer on
  cost.rows_per_cell = 1;
  // The clean run, and each prompt's share of the mean difference's two runs per prompt.
  cost.prompt_forwards = a.options_as<SteeringOptions>().file.empty() ? 3.0 : 1.0;
  return cost;
}

}  // namespace

nlohmann::json SteeringOptions::to_json() const {
  nlohmann::json j = {
      {"site", site}, {"scales", scales}, {"quantities", quantities}, {"normalize", normalize}};
  if (probe) {
    j["direction"] = {{"probe", {{"labels", labels}, {"l2", probe_l2}}}};
  } else if (!labels.empty()) {
    j["direction"] = {{"mean_difference", {{"labels", labels}}}};
  } else if (file.empty()) {
    j["direction"] = {{"mean_difference", mean_difference}};
  } else {
    Sha256 h;  // what the file holds, so a changed file makes a different sweep
    h.update(values.data(), values.size() * sizeof(float));
    j["direction"] = {
        {"file", file}, {"tensor", tensor}, {"shape", shape}, {"values_sha256", h.hex_digest()}};
  }
  return j;
}

const Kind& steering_kind() {
  static const Kind k = [] {
    Kind k;
    k.name = "steering";
    k.keys = {"site", "scales", "direction", "normalize", "positions", "quantities"};
    k.read = read_steering;
    k.reduce.value_label = "{metric} when steered";
    k.reduce.quantity_axis = "quantity";
    k.reduce.quantities = {
        {"metric", "{metric}"},  // the kind's value label: "{metric} when steered"
        {"kl", "KL(unsteered || steered) at the last position (nats)", ColourScale::Sequential},
        {"top_token", "top token at the last position", ColourScale::Diverging, Ranking::Never,
         true},
    };
    k.grid = steering_grid;
    k.cost = steering_cost;
    return k;
  }();
  return k;
}

}  // namespace csweep::jobs
