#include "report/store_input.h"

#include <cmath>
#include <fstream>
#include <optional>

#include "common/error.h"
#include "common/log.h"
#include "jobs/job_spec.h"
#include "model/tokenizer/tokenizer.h"
#include "store/baselines.h"
#include "store/reader.h"
#include "store/stage_selection.h"

namespace fs = std::filesystem;

namespace csweep::report {
namespace {

std::optional<int64_t> parse_index(const std::string& s) {
  if (s.empty() || s.size() > 18) return std::nullopt;
  for (char c : s)
    if (c < '0' || c > '9') return std::nullopt;
  return std::stoll(s);
}

AxisInfo convert_axis(const store::AxisInfo& a) {
  AxisInfo out{a.name, a.size, a.labels, {}};
  if (a.labels.empty()) return out;
  for (const auto& l : a.labels) {
    const auto v = parse_index(l);
    out.values.push_back(v ? *v : -1);
  }
  return out;
}

// The baselines the workers recorded (store/baselines.h), in the units of the analysis's
// values; NaN stays unknown. Causal tracing stores indirect effects, metric(restored) -
// metric(noised), so its baselines become clean - noised and 0: the fraction recovered is then
// the indirect effect over the total effect, as in ROME.
void recorded_baselines(const store::StoreContents& c, ReduceInput& input) {
  const store::RecordedBaselines r = store::read_baselines(c.dir, c.layout, c.spec_hash);
  for (const auto& line : r.conflicts) log::get("report")->warn("{}", line);
  for (size_t ai = 0; ai < input.analyses.size() && ai < r.values.size(); ++ai) {
    auto& a = input.analyses[ai];
    bool any = false;
    for (uint8_t k : r.known[ai]) any = any || k;
    if (!any) continue;
    const size_t n = input.prompts.size();
    a.clean_baseline.assign(n, std::nullopt);
    a.corrupted_baseline.assign(n, std::nullopt);
    const jobs::Kind* kind = jobs::find_kind(a.kind);
    const bool effects = kind && kind->reduce.baselines == jobs::Baselines::Effects;
    for (size_t p = 0; p < n; ++p) {
      if (!r.known[ai][p]) continue;
      double clean = r.values[ai][p].clean, corrupted = r.values[ai][p].corrupted;
      // Patching and ablation ran the unedited clean and corrupted prompts: their metrics are
      // the prompt's (causal tracing's second run is another one: noised).
      auto& prompt = input.prompts[p];
      const bool patching = kind && (kind->reduce.baselines == jobs::Baselines::Fraction ||
                                     kind->reduce.baselines == jobs::Baselines::Ablation);
      if (patching && !prompt.clean_metric && std::isfinite(clean)) prompt.clean_metric = clean;
      if (patching && !prompt.corrupted_metric && std::isfinite(corrupted))
        prompt.corrupted_metric = corrupted;
      if (effects) clean -= corrupted, corrupted = std::isfinite(corrupted) ? 0.0 : corrupted;
      if (std::isfinite(clean)) a.clean_baseline[p] = clean;
      if (std::isfinite(corrupted)) a.corrupted_baseline[p] = corrupted;
    }
  }
}

// Optional STORE/baselines.json, a user's override of what the workers recorded:
// {"ANALYSIS": {"clean": [x|null per prompt], "corrupted": [...]}}; an array given there
// replaces the recorded one whole.
void read_baselines(const fs::path& file, ReduceInput& input) {
  std::ifstream in(file);
  if (!in) return;
  const auto j = nlohmann::json::parse(in, nullptr, false);
  if (!j.is_object()) throw error_at(file.string(), "", "not a JSON object");
  const size_t n = input.prompts.size();
  for (auto& a : input.analyses) {
    if (!j.contains(a.name)) continue;
    const auto& entry = j[a.name];
    for (const char* which : {"clean", "corrupted"}) {
      if (!entry.contains(which)) continue;
      const auto& arr = entry[which];
      if (!arr.is_array() || arr.size() != n)
        throw error_at(file.string(), a.name + "." + which,
                       "must be an array of one number (or null) per prompt");
      auto& dst = std::string(which) == "clean" ? a.clean_baseline : a.corrupted_baseline;
      dst.assign(n, std::nullopt);
      for (size_t p = 0; p < n; ++p) {
        if (arr[p].is_number())
          dst[p] = arr[p].get<double>();
        else if (!arr[p].is_null())
          throw error_at(file.string(), a.name + "." + which,
                         "entry " + std::to_string(p) + " is not a number");
      }
    }
  }
}

std::vector<std::string> token_texts(const model::Tokenizer* tokenizer,
                                     const std::vector<int64_t>& ids) {
  std::vector<std::string> out;
  if (tokenizer)
    for (int64_t id : ids) out.push_back(tokenizer->token_text(id));
  return out;
}

// The strings of every token id an analysis reports as a value (its kind's token quantities).
void decode_token_values(const model::Tokenizer& tokenizer, ReduceInput& input) {
  for (const auto& a : input.analyses) {
    const jobs::Kind* kind = jobs::find_kind(a.kind);
    if (!kind) continue;
    for (const auto& q : kind->reduce.quantities)
      if (q.token_ids)
        for (const auto& row : a.values)
          for (float v : row)
            if (std::isfinite(v) && v >= 0 && v < static_cast<float>(tokenizer.vocab_size()))
              input.token_text.emplace(static_cast<int64_t>(v),
                                       tokenizer.token_text(static_cast<int64_t>(v)));
  }
}

void fill_from_spec(const jobs::JobSpec& spec, ReduceInput& input) {
  input.job_name = spec.name;
  input.model = spec.model.path.string();
  std::shared_ptr<model::Tokenizer> tokenizer;
  try {
    if (model::has_tokenizer(spec.model.path)) tokenizer = model::load_tokenizer(spec.model.path);
  } catch (const std::exception& e) {
    log::get("report")->warn("tokenizer not loaded ({}); positions are labelled by index",
                             e.what());
  }
  for (auto& p : input.prompts) {
    for (const auto& sp : spec.prompts) {
      if (sp.id != p.id) continue;
      p.text = sp.clean_text;
      p.corrupted_text = sp.corrupted_text;
      p.clean_ids = sp.clean, p.corrupted_ids = sp.corrupted;
      p.answer_ids = sp.answers, p.wrong_ids = sp.wrongs;
      p.tokens = token_texts(tokenizer.get(), sp.clean);
      p.corrupted_tokens = token_texts(tokenizer.get(), sp.corrupted);
      p.answer_tokens = token_texts(tokenizer.get(), sp.answers);
      p.wrong_tokens = token_texts(tokenizer.get(), sp.wrongs);
      break;
    }
  }
  input.metric = jobs::metric_name(spec.metric);
  for (auto& a : input.analyses) {
    a.metric = input.metric;
    for (const auto& sa : spec.analyses)
      if (sa.name == a.name && sa.options) a.options = sa.options->to_json();
  }
  input.top_k = spec.reduce.top_k;
  input.normalise = spec.reduce.normalise;
  if (tokenizer) decode_token_values(*tokenizer, input);
}

// "{metric}" in a kind's label stands for the job's metric.
std::string with_metric(std::string label, const std::string& metric) {
  const std::string key = "{metric}";
  if (const auto at = label.find(key); at != std::string::npos)
    label.replace(at, key.size(), metric.empty() ? "metric" : metric);
  return label;
}

// The kind's reduce defaults (jobs/kinds/): its value label, colour scale, the run its effect
// is measured from and its quantities' own units and scales.
void apply_kind_defaults(AnalysisInput& a) {
  const jobs::Kind* kind = jobs::find_kind(a.kind);
  if (!kind) return;
  const jobs::ReduceDefaults& d = kind->reduce;
  if (!d.value_label.empty()) a.metric = with_metric(d.value_label, a.metric);
  a.sequential = d.colour_scale == jobs::ColourScale::Sequential;
  if (d.baselines == jobs::Baselines::Ablation) a.reference = AnalysisInput::Reference::Clean;
  for (size_t i = 0; i < a.axes.size() && !d.quantity_axis.empty(); ++i) {
    if (a.axes[i].name != d.quantity_axis) continue;
    a.quantity_axis = static_cast<int>(i);
    for (const auto& label : a.axes[i].labels) {
      Quantity q{label + " (unknown units)", false, Ranking::Magnitude, false};
      for (const auto& qd : d.quantities)
        if (qd.name == label)
          q = {with_metric(qd.value_label, a.metric),
               qd.colour_scale == jobs::ColourScale::Sequential,
               static_cast<Ranking>(static_cast<int>(qd.ranking)), qd.token_ids};
      a.quantities.push_back(q);
    }
  }
}

}  // namespace

jobs::JobSpec parse_stored_spec(const fs::path& store_dir, const std::string& spec_yaml,
                                const nlohmann::json& provenance) {
  const fs::path dir = fs::absolute(store_dir).lexically_normal();
  std::vector<fs::path> anchors;
  auto recorded = [&](const char* key) -> std::string {
    return provenance.is_object() && provenance.contains(key) && provenance[key].is_string()
               ? provenance[key].get<std::string>()
               : "";
  };
  if (const auto rel = recorded("job_file_from_store"); !rel.empty())
    anchors.push_back((dir / rel).lexically_normal());
  if (const auto file = recorded("job_file"); !file.empty()) anchors.emplace_back(file);
  anchors.push_back(dir.parent_path() / "spec.yaml");
  anchors.push_back(fs::current_path() / "spec.yaml");
  anchors.push_back(dir / "spec.yaml");
  std::string last_error;
  for (const auto& file : anchors) {
    try {
      return jobs::parse_job_spec(spec_yaml, file);
    } catch (const std::exception& e) {
      last_error = e.what();
    }
  }
  throw error_at((store_dir / "spec.yaml").string(), "",
                 "the stored job spec cannot be parsed where its job file was or is: " +
                     last_error.substr(0, last_error.find('\n')));
}

ReduceInput load_reduce_input(const fs::path& store_dir) {
  const store::StoreContents c = store::read_store(store_dir);
  for (const auto& f : c.unreadable)
    log::get("report")->warn("{}: fragment unreadable (still being written, or damaged); skipped",
                             f.string());
  for (const auto& line : c.conflicts) log::get("report")->warn("{}", line);

  ReduceInput input;
  input.job_name = fs::absolute(store_dir).filename().string();
  input.spec_yaml = c.spec_yaml;
  input.spec_hash = c.spec_hash;
  input.provenance = c.provenance.is_object() ? c.provenance : nlohmann::json::object();
  for (const auto& id : c.layout.prompt_ids) {
    PromptInfo p;
    p.id = id;
    input.prompts.push_back(std::move(p));
  }

  for (const auto& r : c.analyses) {
    AnalysisInput a;
    a.name = r.info.name;
    a.kind = r.info.kind;
    a.metric = "value";
    for (const auto& axis : r.info.axes) a.axes.push_back(convert_axis(axis));
    // A stage's cells were chosen at run time: name them by their coordinates.
    if (a.axes.size() == 1 && a.axes[0].name == "candidate")
      if (const auto chosen = store::read_stage_selection(c.dir, a.name);
          chosen && static_cast<int64_t>(chosen->labels.size()) == a.axes[0].size) {
        a.axes[0].labels = chosen->labels;
        a.axes[0].values.assign(chosen->labels.size(), -1);
        a.stage_source = chosen->source;
        a.stage_ranked = chosen->ranked;
        a.stage_top_k = chosen->top_k;
        a.stage_scores = chosen->scores;
      }
    a.planned.assign(static_cast<size_t>(r.n_prompts), 0);
    for (const auto& s : c.layout.shards)
      if (c.layout.analyses[s.analysis].name == a.name) a.planned[s.prompt] = 1;
    for (int64_t p = 0; p < r.n_prompts; ++p) {
      a.values.emplace_back(r.values.begin() + p * r.cells, r.values.begin() + (p + 1) * r.cells);
      a.done.emplace_back(r.done.begin() + p * r.cells, r.done.begin() + (p + 1) * r.cells);
    }
    input.analyses.push_back(std::move(a));
  }
  try {
    fill_from_spec(parse_stored_spec(c.dir, c.spec_yaml, c.provenance), input);
  } catch (const Error& e) {
    log::get("report")->warn("{}; reducing without token strings and metric names", e.what());
  }
  // A circuit whose nodes a stage ranked (circuit_faithfulness with from:): the chosen nodes.
  for (auto& a : input.analyses)
    if (const auto chosen = store::read_stage_selection(c.dir, a.name);
        chosen && chosen->cells.empty() && a.options.is_object()) {
      a.options[a.options.value("universe", "") == "edges" ? "edges" : "nodes"] = chosen->labels;
      a.options["scores"] = chosen->scores;
    }
  for (auto& a : input.analyses) apply_kind_defaults(a);
  recorded_baselines(c, input);
  read_baselines(store_dir / "baselines.json", input);
  validate(input, store_dir.string());
  return input;
}

}  // namespace csweep::report
