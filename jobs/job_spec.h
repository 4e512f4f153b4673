#pragma once
// A sweep described by one YAML job file, parsed, validated against the model's config and
// resolved (prompts tokenised or generated, axes expanded, defaults filled in). Everything
// downstream (sharding, store, worker, reduce) reads this struct, never the YAML.
// Torch-free, MPI-free: testable in one process.
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "jobs/kinds/kind_registry.h"
#include "model/hook_site.h"

namespace csweep::jobs {

// TransformerLens's weight processing (analyses/weight_processing.h), `model.process_weights`:
// true = all four, as HookedTransformer.from_pretrained; absent/false = none, as
// from_pretrained_no_processing (logits identical to Hugging Face either way).
struct WeightProcessingSpec {
  bool fold_ln = false;
  bool center_writing_weights = false;
  bool center_unembed = false;
  bool fold_value_biases = false;
  bool any() const {
    return fold_ln || center_writing_weights || center_unembed || fold_value_biases;
  }
};

struct ModelSpec {
  std::filesystem::path path;     // the checkpoint folder, resolved against the job file's folder
  std::string dtype = "float32";  // float32 | bfloat16 | float16
  std::string device = "cpu";     // cpu | cuda:N
  int64_t tensor_parallel = 1;    // ranks per worker group; 0 = auto (plan/run choose it)
  WeightProcessingSpec process_weights;
  // Text prompts start with the tokenizer's BOS token (TransformerLens's to_tokens with
  // prepend_bos, its default for GPT-2); token-id prompts and answers are taken as written.
  bool prepend_bos = false;
};

// Half-open token range [begin, end) inside the clean prompt; empty when not given.
struct TokenSpan {
  int64_t begin = 0;
  int64_t end = 0;
  bool empty() const { return end <= begin; }
};

// One resolved prompt pair. `answers[i]` and `wrongs[i]` form pair i; metrics average over
// the pairs. Clean and corrupted have the same length (validated).
struct PromptPair {
  std::string id;
  std::vector<int64_t> clean;
  std::vector<int64_t> corrupted;
  std::vector<int64_t> answers;
  std::vector<int64_t> wrongs;
  TokenSpan subject;       // causal tracing noises these clean-prompt tokens
  std::string clean_text;  // empty for token-id prompts
  std::string corrupted_text;
  std::optional<double> label;  // `label:` a class id or a float target (the probe kind)
  int64_t n_tokens() const { return static_cast<int64_t>(clean.size()); }
};

enum class Metric { LogitDiff, Prob, Logprob, Kl };
const char* metric_name(Metric m);  // "logit_diff", "prob", "logprob", "kl"

// `from:` (docs/jobs.md, "Stages"): the analysis runs only on cells chosen from an earlier
// analysis's results, once every shard of that one is done. The coordinator ranks the source's
// cells by |mean effect over the prompts| (the effect is measured from the source kind's
// baseline), takes the `top_k` first and `plus_random` more drawn with `seed` from the rest, and
// the analysis computes its own grid's cells whose coordinates on the source's axes are those
// (store/stage_selection.h). The plan knows how many cells that is, never which.
struct StageSpec {
  std::string from;     // the earlier analysis's name
  uint32_t source = 0;  // its index in JobSpec::analyses (smaller than this analysis's)
  int64_t top_k = 0;
  int64_t plus_random = 0;
  uint64_t seed = 0;
  int64_t source_cells = 0;  // cells the source computes per prompt (what the ranking covers)
  int64_t cells = 0;         // this analysis's cells per prompt: chosen source cells x the rest
  // circuit_faithfulness: the chosen cells (heads, MLPs) are its ranked node list, best first;
  // its grid stays its own (circuit sizes) instead of one cell per chosen cell.
  bool ranked_list = false;
};

// One named analysis of a registered kind (jobs/kinds/kind_registry.h). Axes are explicit,
// sorted, de-duplicated index lists (never "all"): layers over [0, n_layers), heads over
// [0, n_heads) (or n_kv_heads for k/v sites), positions over [0, shortest prompt length).
// `options` is the kind's typed options struct with every default resolved (docs/jobs.md).
struct AnalysisSpec {
  std::string name;
  const Kind* kind = nullptr;
  std::vector<model::HookPoint> sites;  // block hook points (activation/attribution patching)
  std::vector<int64_t> layers;
  std::vector<int64_t> heads;
  std::vector<int64_t> positions;
  std::shared_ptr<const KindOptions> options;
  std::optional<StageSpec> stage;  // `from:`: a later stage of the job

  // The options as the kind's struct; throws csweep::Error when they are another kind's.
  template <typename T>
  const T& options_as() const {
    if (const auto* o = dynamic_cast<const T*>(options.get())) return *o;
    throw_wrong_options();
  }
  [[noreturn]] void throw_wrong_options() const;
};

struct ShardingSpec {
  int64_t batch_size = 128;          // most patched rows in one shard (and in one resumed call)
  uint64_t memory_budget_bytes = 0;  // 0: no budget; else caps rows so a shard fits
};

// What `csweep reduce` lists and derives (`reduce:` section; never part of the hash).
struct ReduceSpec {
  int64_t top_k = 10;     // components in each top-k table (per quantity where a kind has them)
  bool normalise = true;  // also the fraction recovered (patching) / of clean removed (ablation)
};

// A circuit assertion checked by `csweep validate`, e.g.
// {analysis: x, expect: top_head, layer: 1, head: 3}. Fields the kind does not use stay -1.
struct Assertion {
  std::string analysis;
  std::string expect;  // top_head | top_layer | top_position | greater_than | less_than
  int64_t layer = -1;
  int64_t head = -1;
  int64_t position = -1;
  int64_t k = 1;       // top_*: within the top k
  double value = 0.0;  // greater_than / less_than
};

struct ValidationSpec {
  std::filesystem::path baseline;  // empty: none; resolved against the job file's folder
  double tolerance = 1e-4;
  std::vector<Assertion> assertions;
};

// How `csweep run` treats failures (`run:` section). Not part of the canonical hash: changing
// it never changes a result. The command line's --on-error / --max-retries override it.
struct RunSpec {
  std::string on_error = "continue";  // continue | stop
  int64_t max_retries = 0;            // re-runs of a failed shard before it counts as failed
};

struct JobSpec {
  std::filesystem::path file;  // the job file as given
  std::string name;            // `name:` or the file's stem
  ModelSpec model;
  std::vector<PromptPair> prompts;
  Metric metric = Metric::LogitDiff;
  std::vector<AnalysisSpec> analyses;
  ShardingSpec sharding;
  std::filesystem::path store;  // resolved against the job file's folder
  ReduceSpec reduce;
  ValidationSpec validation;
  RunSpec run;
  uint64_t seed = 0;  // default seed of every seeded part that does not set its own
};

// Parses and validates FILE (reading the model's config.json for range checks). Throws
// csweep::Error whose message is every problem found, one "file:line:column: reason" per
// line (1-based), in file order.
JobSpec load_job_spec(const std::filesystem::path& file);

// The same from YAML text; `file` names it in messages and anchors relative paths.
JobSpec parse_job_spec(const std::string& yaml_text, const std::filesystem::path& file);

// Sorted keys, integral floats written as integers, defaults resolved, prompts as token ids.
nlohmann::json canonical_json(const JobSpec& spec);
// SHA-256 (hex) of the canonical JSON of what determines results and shard ids: everything
// except model.path, model.device, model.tensor_parallel, store, reduce, validation and run,
// plus `model_content_hash` (store::model_content_hash: what the model folder holds).
std::string canonical_hash(const JobSpec& spec, const std::string& model_content_hash);

}  // namespace csweep::jobs
