#include "jobs/job_spec.h"

#include <fstream>
#include <regex>
#include <sstream>

#include "common/error.h"
#include "common/log.h"
#include "jobs/analyses_reader.h"
#include "jobs/kinds/kind_options.h"
#include "jobs/prompts.h"
#include "jobs/text_encoder.h"
#include "jobs/yaml_fields.h"
#include "model/checkpoint_files.h"
#include "model/config.h"

namespace csweep::jobs {

const char* metric_name(Metric m) {
  switch (m) {
    case Metric::LogitDiff:
      return "logit_diff";
    case Metric::Prob:
      return "prob";
    case Metric::Logprob:
      return "logprob";
    case Metric::Kl:
      return "kl";
  }
  return "?";
}

void AnalysisSpec::throw_wrong_options() const {
  throw error_at("analysis", name,
                 "options of another kind than " + (kind ? kind->name : std::string("none")));
}

namespace {

const std::vector<std::string> kTopKeys = {"name",   "seed",       "model",    "prompts",
                                           "metric", "analyses",   "sharding", "store",
                                           "reduce", "validation", "run"};

// A count at `node` (`path` in errors; `or_else` after "at least 1", e.g. " (or auto)") into
// `out`; a value below 1 is an error and leaves `out` as it was.
void read_count(const Source& src, const YAML::Node& node, const std::string& path, int64_t& out,
                const char* or_else = "") {
  const auto v = read_int(src, node, path);
  if (v && *v < 1)
    src.error(node, path + ": must be at least 1" + or_else);
  else if (v)
    out = *v;
}

// `model.process_weights`: true/false, or a map choosing TransformerLens's steps one by one.
void read_process_weights(const Source& src, const YAML::Node& node, ModelSpec& out) {
  WeightProcessingSpec& w = out.process_weights;
  const std::vector<std::pair<const char*, bool*>> steps = {
      {"fold_ln", &w.fold_ln},
      {"center_writing_weights", &w.center_writing_weights},
      {"center_unembed", &w.center_unembed},
      {"fold_value_biases", &w.fold_value_biases}};
  if (node.IsMap()) {
    check_keys(src, node, "model.process_weights",
               {"fold_ln", "center_writing_weights", "center_unembed", "fold_value_biases"});
    for (const auto& [key, flag] : steps)
      if (node[key])
        *flag =
            read_bool(src, node[key], std::string("model.process_weights.") + key).value_or(false);
    return;
  }
  const bool all = read_bool(src, node, "model.process_weights").value_or(false);
  for (const auto& step : steps) *step.second = all;
}

// Reads `model:`; returns the model's config when the checkpoint folder is usable.
std::optional<model::ModelConfig> read_model(const Source& src, const YAML::Node& node,
                                             const std::filesystem::path& base, ModelSpec& out) {
  if (!node) {
    src.error(YAML::Mark::null_mark(), "model: missing (model: {path: CHECKPOINT_DIR})");
    return std::nullopt;
  }
  if (!expect_map(src, node, "model")) return std::nullopt;
  check_keys(src, node, "model",
             {"path", "dtype", "device", "tensor_parallel", "process_weights", "prepend_bos"});
  if (node["process_weights"]) read_process_weights(src, node["process_weights"], out);
  if (node["prepend_bos"])
    out.prepend_bos = read_bool(src, node["prepend_bos"], "model.prepend_bos").value_or(false);
  if (node["dtype"])
    out.dtype = read_choice(src, node["dtype"], "model.dtype", {"float32", "bfloat16", "float16"})
                    .value_or(out.dtype);
  if (node["device"]) {
    auto d = read_string(src, node["device"], "model.device");
    static const std::regex device_re("cpu|cuda(:[0-9]+)?");
    if (d && std::regex_match(*d, device_re))
      out.device = *d == "cuda" ? "cuda:0" : *d;
    else if (d)
      src.error(node["device"], "model.device: expected cpu or cuda:N, got \"" + *d + "\"");
  }
  if (node["tensor_parallel"] && node["tensor_parallel"].IsScalar() &&
      node["tensor_parallel"].Scalar() == "auto") {
    out.tensor_parallel = 0;  // sharding::choose_tensor_parallel, once the ranks are known
  } else if (node["tensor_parallel"]) {
    read_count(src, node["tensor_parallel"], "model.tensor_parallel", out.tensor_parallel,
               " (or auto)");
  }
  if (!node["path"]) {
    src.error(node, "model: missing \"path\" (the checkpoint folder, relative to the job file)");
    return std::nullopt;
  }
  auto path = read_string(src, node["path"], "model.path");
  if (!path) return std::nullopt;
  out.path =
      std::filesystem::path(*path).is_absolute() ? std::filesystem::path(*path) : base / *path;
  out.path = out.path.lexically_normal();
  if (!std::filesystem::is_directory(out.path)) {
    src.error(node["path"], "model.path: no such directory \"" + out.path.string() + "\"");
    return std::nullopt;
  }
  try {
    auto config = model::load_model_config(out.path);
    // Every weight file's header is checked now, not when a worker loads it: a truncated or
    // corrupt checkpoint is refused by plan, and by run before the store is created or touched.
    model::CheckpointFiles::open(out.path);
    if (out.tensor_parallel > 0 && config.n_heads % out.tensor_parallel != 0)
      src.error(node["tensor_parallel"],
                "model.tensor_parallel: " + std::to_string(out.tensor_parallel) +
                    " does not divide the model's " + std::to_string(config.n_heads) + " heads");
    return config;
  } catch (const Error& e) {
    src.error(node["path"], std::string("model.path: ") + e.what());
    return std::nullopt;
  }
}

void read_sharding(const Source& src, const YAML::Node& node, ShardingSpec& out) {
  if (!node) return;
  if (!expect_map(src, node, "sharding")) return;
  check_keys(src, node, "sharding", {"batch_size", "memory_budget"});
  if (node["batch_size"])
    read_count(src, node["batch_size"], "sharding.batch_size", out.batch_size);
  if (node["memory_budget"])
    out.memory_budget_bytes =
        read_bytes(src, node["memory_budget"], "sharding.memory_budget").value_or(0);
}

void read_reduce(const Source& src, const YAML::Node& node, ReduceSpec& out) {
  if (!node) return;
  if (!expect_map(src, node, "reduce")) return;
  // plots: was never built (reduce always draws heatmaps); a job that still sets it is told so.
  if (node["plots"])
    src.error(node["plots"],
              "reduce.plots: no longer an option: reduce always draws every analysis's heatmaps "
              "(PNG + SVG) and report.html; remove it");
  check_keys(src, node, "reduce", {"plots", "top_k", "normalise"});
  if (node["top_k"]) read_count(src, node["top_k"], "reduce.top_k", out.top_k);
  if (node["normalise"])
    out.normalise = read_bool(src, node["normalise"], "reduce.normalise").value_or(true);
}

void read_run(const Source& src, const YAML::Node& node, RunSpec& out) {
  if (!node) return;
  if (!expect_map(src, node, "run")) return;
  check_keys(src, node, "run", {"on_error", "max_retries"});
  if (node["on_error"])
    out.on_error = read_choice(src, node["on_error"], "run.on_error", {"continue", "stop"})
                       .value_or(out.on_error);
  if (node["max_retries"]) {
    auto r = read_int(src, node["max_retries"], "run.max_retries");
    if (r && (*r < 0 || *r > 100))
      src.error(node["max_retries"], "run.max_retries: must be in 0..100");
    else if (r)
      out.max_retries = *r;
  }
}

void read_validation(const Source& src, const YAML::Node& node, const std::filesystem::path& base,
                     const std::vector<AnalysisSpec>& analyses, const model::ModelConfig* config,
                     ValidationSpec& out) {
  if (!node) return;
  if (!expect_map(src, node, "validation")) return;
  check_keys(src, node, "validation", {"baseline", "tolerance", "assertions"});
  if (node["baseline"]) {
    auto b = read_string(src, node["baseline"], "validation.baseline");
    if (b)
      out.baseline =
          (std::filesystem::path(*b).is_absolute() ? std::filesystem::path(*b) : base / *b)
              .lexically_normal();
  }
  if (node["tolerance"]) {
    auto t = read_double(src, node["tolerance"], "validation.tolerance");
    if (t && *t < 0)
      src.error(node["tolerance"], "validation.tolerance: must be >= 0");
    else if (t)
      out.tolerance = *t;
  }
  const YAML::Node list = node["assertions"];
  if (!list) return;
  if (!expect_sequence(src, list, "validation.assertions")) return;
  std::vector<std::string> names;
  for (const auto& a : analyses) names.push_back(a.name);
  for (size_t i = 0; i < list.size(); ++i) {
    std::string path = "validation.assertions[" + std::to_string(i) + "]";
    const YAML::Node n = list[i];
    if (!expect_map(src, n, path)) continue;
    check_keys(src, n, path, {"analysis", "expect", "layer", "head", "position", "k", "value"});
    Assertion a;
    bool ok = true;
    for (const char* key : {"analysis", "expect"})
      if (!n[key]) {
        src.error(n, path + ": missing \"" + key + "\"");
        ok = false;
      }
    if (!ok) continue;
    if (auto s = read_string(src, n["analysis"], path + ".analysis")) {
      a.analysis = *s;
      if (std::find(names.begin(), names.end(), *s) == names.end())
        src.error(n["analysis"],
                  path + ".analysis: no analysis named \"" + *s + "\"" + did_you_mean(*s, names));
    }
    a.expect = read_choice(src, n["expect"], path + ".expect",
                           {"top_head", "top_layer", "top_position", "greater_than", "less_than"})
                   .value_or("");
    auto index = [&](const char* key, int64_t limit, const char* what,
                     const std::string& limit_text) -> int64_t {
      if (!n[key]) return -1;
      auto v = read_int(src, n[key], path + "." + key);
      if (!v) return -1;
      if (*v < 0 || (limit >= 0 && *v >= limit)) {
        src.error(n[key], path + "." + key + ": " + what + " " + std::to_string(*v) +
                              " out of range (" + limit_text + ")");
        return -1;
      }
      return *v;
    };
    int64_t L = config ? config->n_layers : -1, H = config ? config->n_heads : -1;
    a.layer = index("layer", L, "layer",
                    "model has " + std::to_string(L) + " layers: 0.." + std::to_string(L - 1));
    a.head = index("head", H, "head",
                   "model has " + std::to_string(H) + " heads: 0.." + std::to_string(H - 1));
    a.position = index("position", -1, "position", "");
    if (n["k"]) read_count(src, n["k"], path + ".k", a.k);
    if (n["value"]) a.value = read_double(src, n["value"], path + ".value").value_or(0.0);
    out.assertions.push_back(a);
  }
}

// Autograd does not run through the collectives: a kind that needs gradients is refused on a
// tensor-parallel group while the job is read, so plan, validate and run stop before any store.
// So is a circuit of edges, whose receivers each read every head's output
// (analyses/edge_circuit.h).
void refuse_gradients_under_tp(const Source& src, const YAML::Node& model, const JobSpec& spec) {
  if (spec.model.tensor_parallel <= 1) return;
  for (const AnalysisSpec& a : spec.analyses) {
    if (!a.kind) continue;
    const bool edges = a.kind->name == "circuit_faithfulness" && a.options &&
                       a.options_as<CircuitFaithfulnessOptions>().universe == "edges";
    if (!a.kind->needs_gradients && !edges) continue;
    std::string reason = "model.tensor_parallel: ";
    reason += std::to_string(spec.model.tensor_parallel);
    reason += ": analysis \"" + a.name + "\" (" + a.kind->name;
    reason += edges ? ", universe: edges) needs every head's whole output on each rank"
                    : ") needs gradients through the collectives";
    reason += ", which tensor parallelism does not support; use 1";
    src.error(model["tensor_parallel"], reason);
  }
}

}  // namespace

JobSpec parse_job_spec(const std::string& yaml_text, const std::filesystem::path& file) {
  Diagnostics diag;
  Source src{&diag, file.string(), 0};
  YAML::Node root;
  try {
    root = YAML::Load(yaml_text);
  } catch (const YAML::ParserException& e) {
    src.error(e.mark, "YAML syntax error: " + e.msg);
    diag.throw_if_any();
  }
  if (!root.IsMap()) {
    src.error(root,
              "a job file is a map of sections (model, prompts, metric, analyses, ...), got " +
                  describe(root));
    diag.throw_if_any();
  }
  check_keys(src, root, "", kTopKeys);

  JobSpec spec;
  spec.file = file;
  std::filesystem::path base = std::filesystem::absolute(file).parent_path();
  spec.name = file.stem().string();
  if (root["name"]) spec.name = read_string(src, root["name"], "name").value_or(spec.name);
  if (root["seed"]) {
    auto s = read_int(src, root["seed"], "seed");
    if (s && *s < 0)
      src.error(root["seed"], "seed: must be >= 0");
    else if (s)
      spec.seed = static_cast<uint64_t>(*s);
  }

  auto config = read_model(src, root["model"], base, spec.model);
  const model::ModelConfig* cfg = config ? &*config : nullptr;

  if (root["metric"]) {
    auto m = read_choice(src, root["metric"], "metric", {"logit_diff", "prob", "logprob", "kl"});
    if (m == "prob") spec.metric = Metric::Prob;
    if (m == "logprob") spec.metric = Metric::Logprob;
    if (m == "kl") spec.metric = Metric::Kl;
  }

  bool need_metric = false;
  for (const Kind* k : peek_kinds(root["analyses"])) need_metric = need_metric || k->uses_metric;
  TextEncoder encoder(cfg ? spec.model.path : std::filesystem::path(), spec.model.prepend_bos);
  PromptContext pctx{src,
                     base,
                     cfg,
                     &encoder,
                     spec.seed,
                     need_metric && spec.metric != Metric::Kl,
                     need_metric && spec.metric == Metric::LogitDiff};
  spec.prompts = read_prompts(root["prompts"], pctx);

  AnalysesContext actx{src, cfg, &spec.prompts, spec.metric, spec.seed};
  spec.analyses = read_analyses(root["analyses"], actx);
  refuse_gradients_under_tp(src, root["model"], spec);

  read_sharding(src, root["sharding"], spec.sharding);
  spec.store = (base / (spec.name + ".store")).lexically_normal();
  if (root["store"]) {
    auto s = read_string(src, root["store"], "store");
    if (s)
      spec.store = (std::filesystem::path(*s).is_absolute() ? std::filesystem::path(*s) : base / *s)
                       .lexically_normal();
  }
  read_reduce(src, root["reduce"], spec.reduce);
  read_validation(src, root["validation"], base, spec.analyses, cfg, spec.validation);
  read_run(src, root["run"], spec.run);

  diag.throw_if_any();
  log::get("jobs")->info("{}: {} prompts, {} analyses", file.string(), spec.prompts.size(),
                         spec.analyses.size());
  return spec;
}

JobSpec load_job_spec(const std::filesystem::path& file) {
  std::ifstream in(file);
  if (!in)
    throw error_at(file.string(), "", "cannot read the job file (no such file or not readable)");
  std::stringstream text;
  text << in.rdbuf();
  return parse_job_spec(text.str(), file);
}

}  // namespace csweep::jobs
