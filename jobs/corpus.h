#pragma once
// A corpus prompt source ({corpus: FILE, format: text | jsonl | tokens, context: N, ...}): the
// file's token stream (text tokenised with the model's tokenizer, JSONL documents' `jsonl_field`
// tokenised and concatenated, or whitespace-separated token ids) sliced into non-overlapping
// contexts of N tokens, each one prompt with no answers (the SAE feature search reads them).
#include <cstdint>
#include <vector>

#include <yaml-cpp/yaml.h>

#include "jobs/prompts.h"

namespace csweep::jobs {

// Appends the contexts of `source` (prompts[i] at `path`) to `out`; at most `max_prompts` prompts
// in `out` and `max_tokens` tokens in its contexts. Problems go to ctx.src, one line each.
void read_corpus(const YAML::Node& source, const std::string& path, const PromptContext& ctx,
                 int64_t max_prompts, int64_t max_tokens, std::vector<PromptPair>& out);

}  // namespace csweep::jobs
