#pragma once
// The `analyses:` section: named analyses, each of one kind with its axes and options,
// checked against the model's config and the resolved prompts.
#include <vector>

#include <yaml-cpp/yaml.h>

#include "jobs/diagnostics.h"
#include "jobs/job_spec.h"
#include "model/config.h"

namespace csweep::jobs {

struct AnalysesContext {
  Source src;
  const model::ModelConfig* config = nullptr;     // null: skip range checks
  const std::vector<PromptPair>* prompts = nullptr;
  Metric metric = Metric::LogitDiff;
  uint64_t default_seed = 0;
};

std::vector<AnalysisSpec> read_analyses(const YAML::Node& node, const AnalysesContext& ctx);

// The kinds named in the section, read leniently (no messages): prompts need to know which
// analyses need answers before the section itself is read.
std::vector<AnalysisKind> peek_kinds(const YAML::Node& node);

}  // namespace csweep::jobs
