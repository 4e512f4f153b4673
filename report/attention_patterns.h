#pragma once
// The attention-pattern view of report.html (a la circuitsvis): the patterns of the heads the
// analyses rank at the top, on one prompt. reduce is torch-free; the patterns come from a
// PatternSource the caller supplies (`csweep reduce` runs the job's model on the prompt,
// apps/reduce_patterns.cpp); sweep.h5 keeps them under /attention_patterns.
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "report/aggregate.h"
#include "report/reduce_input.h"

namespace csweep::report {

struct HeadRef {
  int64_t layer = 0, head = 0;  // model indices
  std::string why;              // "head_out #1; head_scores #2": where it ranks at the top
};

struct HeadPattern {
  HeadRef head;
  std::vector<float> pattern;  // [query pos][key pos] row-major, n_tokens x n_tokens
};

struct AttentionPatterns {
  std::string prompt_id;            // the prompt they were computed on (the job's first)
  std::vector<int64_t> token_ids;   // its clean tokens
  std::vector<std::string> tokens;  // display strings ("" when the model has no tokenizer)
  std::vector<HeadPattern> heads;
};

// Computes each head's pattern [n_tokens * n_tokens] on the token ids, in `heads` order; no
// patterns at all when it cannot (it says why).
using PatternSource = std::function<std::vector<std::vector<float>>(
    const std::vector<int64_t>& token_ids, const std::vector<HeadRef>& heads)>;

// Heads at most, first per analysis, and the longest prompt the view shows (the page and
// sweep.h5 hold n_tokens^2 floats per head: keep it small).
constexpr size_t kPatternHeads = 6, kPatternHeadsPerAnalysis = 3;
constexpr size_t kMaxPatternTokens = 128;

// The distinct (layer, head) cells of every analysis with layer and head axes, in top-k order:
// the first kPatternHeadsPerAnalysis of each, kPatternHeads in all.
std::vector<HeadRef> top_heads(const ReduceInput& input,
                               const std::vector<std::vector<TopComponent>>& top);

// The patterns of the top heads on the first prompt; empty (no heads) when no analysis has a
// head axis, there are no prompts, or the prompt is longer than kMaxPatternTokens.
AttentionPatterns attention_patterns(const ReduceInput& input,
                                     const std::vector<std::vector<TopComponent>>& top,
                                     const PatternSource& source);

}  // namespace csweep::report
