#pragma once
// The `analyses:` section: named analyses, each of one registered kind (jobs/kinds/) with its
// axes and options, checked against the model's config and the resolved prompts.
#include <vector>

#include <yaml-cpp/yaml.h>

#include "jobs/job_spec.h"
#include "jobs/kinds/kind_reader.h"

namespace csweep::jobs {

std::vector<AnalysisSpec> read_analyses(const YAML::Node& node, const AnalysesContext& ctx);

// The kinds named in the section, read leniently (no messages): prompts need to know which
// analyses need answers before the section itself is read.
std::vector<const Kind*> peek_kinds(const YAML::Node& node);

}  // namespace csweep::jobs
