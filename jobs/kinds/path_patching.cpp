// path_patching: the effect of each sender (a head's attn.hook_z, or a block's hook_mlp_out) on
// the metric through the receivers only (heads' q/k/v inputs, or the logits), everything else
// frozen at the clean run (Wang et al. 2022). Computed in analyses/path_patching_cells.cpp.
#include <charconv>

#include "jobs/kinds/kind_options.h"
#include "jobs/kinds/kind_reader.h"
#include "jobs/yaml_fields.h"

namespace csweep::jobs {
namespace {

using Receiver = PathPatchingOptions::Receiver;

// "L.H.q|k|v" (layer, head, input); nullopt when the text is not of that form.
std::optional<Receiver> parse_receiver(const std::string& text) {
  Receiver x;
  const char* p = text.data();
  const char* end = p + text.size();
  auto number = [&](int64_t& v) {
    const auto res = std::from_chars(p, end, v);
    if (res.ec != std::errc() || res.ptr == end || *res.ptr != '.') return false;
    p = res.ptr + 1;
    return true;
  };
  if (!number(x.layer) || !number(x.head)) return std::nullopt;
  x.input.assign(p, end);
  if (x.input != "q" && x.input != "k" && x.input != "v") return std::nullopt;
  return x;
}

std::string receiver_label(const Receiver& x) {
  return std::to_string(x.layer) + "." + std::to_string(x.head) + "." + x.input;
}

// The range problem of a receiver against the model ("" when it is in the model).
std::string range_problem(const Receiver& x, const model::ModelConfig& c) {
  auto out_of = [](const char* what, int64_t v, int64_t n, const char* unit) {
    return std::string(what) + " " + std::to_string(v) + " out of range (model has " +
           std::to_string(n) + " " + unit + ": 0.." + std::to_string(n - 1) + ")";
  };
  if (x.layer < 0 || x.layer >= c.n_layers) return out_of("layer", x.layer, c.n_layers, "layers");
  if (x.input == "q" && (x.head < 0 || x.head >= c.n_heads))
    return out_of("head", x.head, c.n_heads, "heads");
  if (x.input != "q" && (x.head < 0 || x.head >= c.n_kv_heads))
    return out_of("head", x.head, c.n_kv_heads, "KV heads, which k and v name");
  return "";
}

// `receivers: [logits]` (the default) or a list of "layer.head.q|k|v".
std::vector<Receiver> read_receivers(KindReader& r) {
  if (!r.has("receivers")) return {};
  const Source& src = r.context().src;
  const YAML::Node& list = r.node()["receivers"];
  const std::string path = r.path() + ".receivers";
  if (!expect_sequence(src, list, path)) {
    r.record(false);
    return {};
  }
  if (list.size() == 0) r.error("receivers", "empty list (give [logits] or layer.head.q|k|v)");
  std::vector<Receiver> out;
  bool logits = false;
  for (size_t i = 0; i < list.size(); ++i) {
    const std::string at = path + "[" + std::to_string(i) + "]";
    const auto text = read_string(src, list[i], at);
    if (!text) {
      r.record(false);
      continue;
    }
    std::string why;
    const auto x = parse_receiver(*text);
    if (*text == "logits") {
      logits = true;
    } else if (!x) {
      why = "\"" + *text + "\" is neither logits nor layer.head.q|k|v (e.g. 5.1.k)";
    } else if (r.config()) {
      why = range_problem(*x, *r.config());
    }
    for (const Receiver& y : out)
      if (x && receiver_label(y) == receiver_label(*x)) why = "\"" + *text + "\" listed twice";
    if (why.empty() && x) out.push_back(*x);
    if (!why.empty()) src.error(list[i], at + ": " + why);
    r.record(why.empty());
  }
  if (logits && list.size() > 1)
    r.error("receivers", "logits is a receiver of its own: give [logits] or heads' inputs");
  return out;
}

// The top_k + plus_random of the analysis's `from:` (0 when absent or unreadable: the stage
// reader reports those).
int64_t stage_slots(const YAML::Node& analysis) {
  const YAML::Node from = analysis["from"];
  if (!from || !from.IsMap()) return 0;
  int64_t n = 0;
  for (const char* key : {"top_k", "plus_random"})
    if (from[key] && from[key].IsScalar()) n += from[key].as<int64_t>(0);
  return n;
}

// `receivers: {chosen: [q, k, v], logits: true}`: the inputs of the heads a stage chose (the
// senders' `from:`), so the grid holds every sender -> receiver pair among the survivors.
void read_chosen_receivers(KindReader& r, PathPatchingOptions& o) {
  const YAML::Node& node = r.node()["receivers"];
  KindReader m(r.context(), node, r.path() + ".receivers");
  check_keys(r.context().src, node, m.path(), {"chosen", "logits"});
  o.chosen_inputs = m.choices("chosen", {"q", "k", "v"}, {"q", "k", "v"});
  o.chosen_logits = m.flag("logits", false);
  o.chosen_slots = stage_slots(r.node());
  if (!r.has("from"))
    m.fail("chosen", "the chosen heads are a stage's: give from: {analysis: ..., top_k: ...}");
  r.record(m.ok());
}

void read_path_patching(KindReader& r, AnalysisSpec& a) {
  auto o = std::make_shared<PathPatchingOptions>();
  o->senders = r.choice("senders", {"heads", "mlp"}, o->senders);
  if (r.only_if(o->senders == "heads", "heads", "only senders heads have a head axis"))
    a.heads = r.n_heads_axis();
  if (r.has("receivers") && r.node()["receivers"].IsMap())
    read_chosen_receivers(r, *o);
  else
    o->receivers = read_receivers(r);
  o->freeze = r.choice("freeze", {"heads", "heads_and_mlps"}, o->freeze);
  if (r.only_if(!o->receivers.empty() || !o->chosen_inputs.empty(), "receiver_positions",
                "only heads' inputs are patched by position"))
    o->receiver_positions = r.choice("receiver_positions", {"all", "last"}, "all");
  if (r.has("positions")) a.positions = r.positions();
  a.options = o;
}

// [layer, (pos,) head] for head senders, [layer, (pos)] for MLP senders: the sender's layer,
// the position its output is corrupted at (absent: every position) and its head.
std::vector<Axis> path_patching_grid(const AnalysisSpec& a) {
  const auto& o = a.options_as<PathPatchingOptions>();
  std::vector<Axis> axes;
  if (o.chosen_slots > 0) {  // [receiver, ...]: "#2.k" is the k input of the third chosen head
    std::vector<std::string> labels;
    for (int64_t slot = 0; slot < o.chosen_slots; ++slot)
      for (const std::string& input : o.chosen_inputs)
        labels.push_back("#" + std::to_string(slot) + "." + input);
    if (o.chosen_logits) labels.push_back("logits");
    axes.push_back(named_axis("receiver", labels, labels));
  }
  axes.push_back(index_axis("layer", a.layers));
  if (!a.positions.empty()) axes.push_back(index_axis("pos", a.positions));
  if (o.senders == "heads") axes.push_back(index_axis("head", a.heads));
  return axes;
}

// Per cell: run 2 from the sender's layer to the last receiver's, then (heads' inputs) run 3
// resumed from the receivers' layer: two rows, at most a forward each.
KindCost path_patching_cost(const AnalysisSpec& a, const model::ModelConfig&) {
  KindCost cost;
  cost.per_cell_forward = true;
  const auto& o = a.options_as<PathPatchingOptions>();
  cost.rows_per_cell = o.receivers.empty() && o.chosen_inputs.empty() ? 1 : 2;
  return cost;  // the clean and corrupted caches: prompt_forwards 2
}

}  // namespace

nlohmann::json PathPatchingOptions::to_json() const {
  std::vector<std::string> names;
  for (const Receiver& x : receivers) names.push_back(receiver_label(x));
  if (names.empty()) names.push_back("logits");
  nlohmann::json j = {{"senders", senders},
                      {"receivers", names},
                      {"freeze", freeze},
                      {"receiver_positions", receiver_positions}};
  if (!chosen_inputs.empty())
    j["receivers"] = {
        {"chosen", chosen_inputs}, {"logits", chosen_logits}, {"slots", chosen_slots}};
  return j;
}

const Kind& path_patching_kind() {
  static const Kind k = [] {
    Kind k;
    k.name = "path_patching";
    k.keys = {"senders", "receivers", "freeze", "receiver_positions", "heads", "positions"};
    k.read = read_path_patching;
    k.grid = path_patching_grid;
    k.cost = path_patching_cost;
    // Noising along the path: the clean run is the target; reduce's fraction recovered
    // (value - corrupted) / (clean - corrupted) is 1 for a sender with no effect via the path.
    k.reduce.baselines = Baselines::Fraction;
    k.reduce.value_label = "{metric} with the path from the sender patched";
    return k;
  }();
  return k;
}

}  // namespace csweep::jobs
