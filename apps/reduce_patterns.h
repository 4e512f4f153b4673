#pragma once
// `csweep reduce`'s source of attention patterns for report.html's pattern view: the job's
// model, run once on one prompt. Kept out of report/ so that the report stays torch-free.
#include "report/attention_patterns.h"
#include "report/reduce_input.h"

namespace csweep::apps {

// Loads the model of the store's job (its stored spec, relative paths anchored as reduce
// anchors them) on the first call. Returns no patterns, with a warning, when the spec cannot be
// parsed or the model cannot be loaded: the rest of the report does not need it.
report::PatternSource model_pattern_source(const std::filesystem::path& store_dir,
                                           const report::ReduceInput& input);

}  // namespace csweep::apps
