// The canonical form of a job spec: what identifies a sweep, independent of key order,
// formatting, defaults written out or left implicit, and number spelling (3 vs 3.0).
#include <cmath>

#include "common/sha256.h"
#include "jobs/job_spec.h"
#include "model/hook_site.h"

namespace csweep::jobs {
namespace {

// nlohmann::json objects are std::map-backed, so keys come out sorted; what is left is to
// write integral floats as integers so "3" and "3.0" hash alike.
nlohmann::json normalise_numbers(const nlohmann::json& j) {
  if (j.is_object()) {
    nlohmann::json out = nlohmann::json::object();
    for (auto it = j.begin(); it != j.end(); ++it) out[it.key()] = normalise_numbers(it.value());
    return out;
  }
  if (j.is_array()) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& v : j) out.push_back(normalise_numbers(v));
    return out;
  }
  if (j.is_number_float()) {
    double v = j.get<double>();
    if (std::isfinite(v) && std::floor(v) == v && std::fabs(v) < 9.0e15)
      return static_cast<int64_t>(v);
  }
  if (j.is_number_unsigned()) return static_cast<int64_t>(j.get<uint64_t>());
  return j;
}

nlohmann::json prompt_json(const PromptPair& p) {
  nlohmann::json j = {{"id", p.id},           {"clean", p.clean},   {"corrupted", p.corrupted},
                      {"answers", p.answers}, {"wrongs", p.wrongs}, {"subject", nullptr}};
  if (!p.subject.empty()) j["subject"] = {p.subject.begin, p.subject.end};
  if (p.label) j["label"] = *p.label;  // only when given: unlabelled jobs keep their hash
  return j;
}

nlohmann::json analysis_json(const AnalysisSpec& a) {
  std::vector<std::string> sites;
  for (auto s : a.sites) sites.push_back(model::point_suffix(s));
  nlohmann::json j{{"name", a.name},
                   {"kind", kind_name(a.kind)},
                   {"sites", sites},
                   {"layers", a.layers},
                   {"heads", a.heads},
                   {"positions", a.positions},
                   {"options", a.options->to_json()}};
  // Written only for stages, so jobs without them keep the hash they had.
  if (a.stage)
    j["from"] = {{"analysis", a.stage->from},
                 {"top_k", a.stage->top_k},
                 {"plus_random", a.stage->plus_random},
                 {"seed", a.stage->seed}};
  return j;
}

}  // namespace

nlohmann::json canonical_json(const JobSpec& spec) {
  nlohmann::json j;
  j["name"] = spec.name;
  j["seed"] = spec.seed;
  j["model"] = {{"path", spec.model.path.string()},
                {"dtype", spec.model.dtype},
                {"device", spec.model.device},
                {"tensor_parallel", spec.model.tensor_parallel > 0
                                        ? nlohmann::json(spec.model.tensor_parallel)
                                        : nlohmann::json("auto")}};
  // Written only when on, so jobs that do not use it keep the hash they had. (prepend_bos needs
  // no entry: it changes the prompts' token ids, which are hashed.)
  if (spec.model.process_weights.any())
    j["model"]["process_weights"] = {
        {"fold_ln", spec.model.process_weights.fold_ln},
        {"center_writing_weights", spec.model.process_weights.center_writing_weights},
        {"center_unembed", spec.model.process_weights.center_unembed},
        {"fold_value_biases", spec.model.process_weights.fold_value_biases}};
  if (spec.model.prepend_bos) j["model"]["prepend_bos"] = true;
  j["prompts"] = nlohmann::json::array();
  for (const auto& p : spec.prompts) j["prompts"].push_back(prompt_json(p));
  j["metric"] = metric_name(spec.metric);
  j["analyses"] = nlohmann::json::array();
  for (const auto& a : spec.analyses) j["analyses"].push_back(analysis_json(a));
  j["sharding"] = {{"batch_size", spec.sharding.batch_size},
                   {"memory_budget", spec.sharding.memory_budget_bytes}};
  j["store"] = spec.store.string();
  j["reduce"] = {{"top_k", spec.reduce.top_k}, {"normalise", spec.reduce.normalise}};
  nlohmann::json assertions = nlohmann::json::array();
  for (const auto& a : spec.validation.assertions)
    assertions.push_back({{"analysis", a.analysis},
                          {"expect", a.expect},
                          {"layer", a.layer},
                          {"head", a.head},
                          {"position", a.position},
                          {"k", a.k},
                          {"value", a.value}});
  j["validation"] = {{"baseline", spec.validation.baseline.string()},
                     {"tolerance", spec.validation.tolerance},
                     {"assertions", assertions}};
  j["run"] = {{"on_error", spec.run.on_error}, {"max_retries", spec.run.max_retries}};
  return normalise_numbers(j);
}

std::string canonical_hash(const JobSpec& spec, const std::string& model_content_hash) {
  nlohmann::json j = canonical_json(spec);
  // The model is identified by its content, not by where it sits: a project moved, copied or
  // reached through a symlink keeps its stores resumable.
  j["model"].erase("path");
  j["model"]["content"] = model_content_hash;
  // Where and how the sweep runs, and what is done with its results afterwards, do not change
  // a single number or shard id: a store stays resumable across those edits.
  j["model"].erase("device");
  j["model"].erase("tensor_parallel");
  j.erase("store");
  j.erase("reduce");
  j.erase("validation");
  j.erase("run");  // failure policy: decides what is retried, never a value
  j.erase("name");
  j.erase("seed");  // every seed it feeds is resolved into prompts and options
  return sha256_hex(j.dump());
}

}  // namespace csweep::jobs
