#pragma once
// The `prompts:` section: a list of sources, each an inline pair ({clean: ..., corrupted: ...,
// answer: ..., wrong: ...}), a JSONL file ({file: pairs.jsonl}) or a seeded template
// ({template: ioi | factual | repeated_tokens, n: ..., seed: ...}) or a corpus sliced into
// contexts ({corpus: FILE, context: N}: jobs/corpus.h), resolved to token ids.
#include <cstdint>
#include <filesystem>
#include <vector>

#include <yaml-cpp/yaml.h>

#include "jobs/diagnostics.h"
#include "jobs/job_spec.h"
#include "jobs/text_encoder.h"
#include "model/config.h"

namespace csweep::jobs {

struct PromptContext {
  Source src;                                  // the job file
  std::filesystem::path base_dir;              // relative file names resolve here
  const model::ModelConfig* config = nullptr;  // null when the model's config is unusable
  TextEncoder* encoder = nullptr;
  uint64_t default_seed = 0;
  bool need_answer = true;  // some analysis computes a metric
  bool need_wrong = true;   // ... and the metric is logit_diff
};

std::vector<PromptPair> read_prompts(const YAML::Node& node, const PromptContext& ctx);

}  // namespace csweep::jobs
