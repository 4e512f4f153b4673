#pragma once
// What `csweep reduce` needs from a store, as plain data. The store adapter
// (report/store_input.h) fills it from store/reader.h; tests build it in memory. Keeping the
// report code on this struct (not on the store) lets it run on a partial store and be tested
// without MPI or a sweep.
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace csweep::report {

// One axis of an analysis grid, as sharding/ names it: "layer", "head", "pos", "site",
// "neuron", ... Empty labels mean "the index". `values` are the model index of each entry
// (layer 5, position 7; -1 for named entries like sites); empty means 0..size-1. The "pos"
// axis's token strings are per prompt (PromptInfo::tokens[values[i]]).
struct AxisInfo {
  std::string name;
  int64_t size = 0;
  std::vector<std::string> labels;
  std::vector<int64_t> values;

  int64_t value(int64_t i) const { return values.empty() ? i : values[i]; }
  bool is_position() const { return name == "pos" || name == "position"; }
};

// One prompt pair as the job resolved it. Token strings are Tokenizer::token_text's display
// form (" Mary", "<0xE2>"); empty when the model folder has no tokenizer.
struct PromptInfo {
  std::string id;
  std::string text;                 // clean prompt text ("" when unknown)
  std::vector<std::string> tokens;  // clean prompt token strings, one per position
  std::string corrupted_text;
  std::vector<std::string> corrupted_tokens;
  std::vector<int64_t> clean_ids, corrupted_ids;
  std::vector<int64_t> answer_ids, wrong_ids;  // pair i: answer_ids[i] vs wrong_ids[i]
  std::vector<std::string> answer_tokens, wrong_tokens;
  // The job's metric on the unpatched clean and corrupted runs, as the workers recorded it.
  std::optional<double> clean_metric, corrupted_metric;
};

// How top-k orders the components on one quantity (jobs::Ranking's report-side twin).
enum class Ranking { Magnitude, Smallest, Never };

// One entry of an analysis's quantity axis: entries with different units get their own
// figure, colour scale and top-k list.
struct Quantity {
  std::string label;  // the colour bar's label with units, e.g. "probability of the answer"
  bool sequential = false;
  Ranking ranking = Ranking::Magnitude;
  bool token_ids = false;  // values are token ids: shown as text, never averaged or ranked
};

// One analysis of the job: its grid and, per prompt, one float per cell in row-major order
// over `axes`.
struct AnalysisInput {
  std::string name;  // unique within the job, e.g. "resid_patching"
  std::string kind;  // e.g. "activation_patching", "ablation"
  std::string
      metric;  // e.g. "logit_diff"; the kind's value label where it has one ("Frobenius norm")
  bool sequential = false;  // the kind's values are non-negative: colour from 0, not around it
  std::vector<AxisInfo> axes;
  std::vector<std::vector<float>> values;  // [n_prompts][cells]; ignored where !done
  std::vector<std::vector<uint8_t>> done;  // [n_prompts][cells]; 1 = computed and durable
  // [n_prompts]: 1 where the plan gives the analysis shards of that prompt; empty: every prompt. A
  // whole-prompt-set kind (the probe) has its first prompt's only, which holds the set's result.
  std::vector<uint8_t> planned;
  // Metric of the unpatched clean and corrupted runs, per prompt, when the analysis has them;
  // they give the fraction recovered (patched - corrupted) / (clean - corrupted).
  std::vector<std::optional<double>> clean_baseline;      // empty or [n_prompts]
  std::vector<std::optional<double>> corrupted_baseline;  // empty or [n_prompts]
  // Which run an effect is measured from: patching's corrupted run (effect = value -
  // corrupted, fraction recovered), or ablation's clean run (effect = value - clean, the
  // fraction of the clean metric removed (clean - value) / clean).
  enum class Reference { Corrupted, Clean };
  Reference reference = Reference::Corrupted;
  // The axis whose entries are different quantities (-1: none) and one Quantity per entry.
  int quantity_axis = -1;
  std::vector<Quantity> quantities;
  // The kind's options as the canonical hash sees them (KindOptions::to_json; null when the spec
  // was not readable): circuit_faithfulness's node list and bootstrap (report/faithfulness.h).
  nlohmann::json options;
  // A stage (`from:`, docs/jobs.md): what its cells were chosen from. Per chosen source cell in
  // order (the top_k best first, then the random draw): the source's estimate of its effect.
  // Each chosen cell covers cells() / stage_scores.size() consecutive cells of this analysis.
  std::string stage_source;  // empty: not a stage
  int64_t stage_ranked = 0, stage_top_k = 0;
  std::vector<double> stage_scores;

  int64_t cells() const {
    int64_t n = 1;
    for (const auto& a : axes) n *= a.size;
    return n;
  }
};

struct ReduceInput {
  std::string job_name;
  std::string model;      // model path or name as written in the job
  std::string spec_yaml;  // the job spec as stored (text)
  std::string spec_hash;  // canonical hash of the spec
  std::string metric;     // the job's metric ("logit_diff"); "" when the spec was not readable
  nlohmann::json provenance = nlohmann::json::object();  // versions, git SHA, hosts, seed...
  std::vector<PromptInfo> prompts;
  std::vector<AnalysisInput> analyses;
  int64_t top_k = 10;     // the job's reduce.top_k: components listed per analysis (or quantity)
  bool normalise = true;  // the job's reduce.normalise: also the fraction recovered / removed
  std::map<int64_t, std::string> token_text;  // token-id values' strings (top_token)
};

// Checks the shapes the report code relies on (values/done per prompt sized cells(), axis
// labels empty or sized, baselines empty or per prompt); throws csweep::Error naming `source`.
void validate(const ReduceInput& input, const std::string& source);

}  // namespace csweep::report
