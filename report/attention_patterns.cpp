#include "report/attention_patterns.h"

#include <algorithm>

#include "common/error.h"
#include "common/log.h"

namespace csweep::report {
namespace {

int axis_named(const AnalysisInput& a, const std::string& name) {
  for (size_t i = 0; i < a.axes.size(); ++i)
    if (a.axes[i].name == name) return static_cast<int>(i);
  return -1;
}

}  // namespace

std::vector<HeadRef> top_heads(const ReduceInput& input,
                               const std::vector<std::vector<TopComponent>>& top) {
  std::vector<HeadRef> chosen;
  for (size_t ai = 0; ai < input.analyses.size() && ai < top.size(); ++ai) {
    const AnalysisInput& a = input.analyses[ai];
    const int layer = axis_named(a, "layer"), head = axis_named(a, "head");
    if (layer < 0 || head < 0) continue;
    size_t taken = 0;
    for (size_t rank = 0; rank < top[ai].size() && taken < kPatternHeadsPerAnalysis; ++rank) {
      const TopComponent& t = top[ai][rank];
      const int64_t l = a.axes[layer].value(t.index[layer]), h = a.axes[head].value(t.index[head]);
      if (l < 0 || h < 0) continue;
      auto it = std::find_if(chosen.begin(), chosen.end(),
                             [&](const HeadRef& c) { return c.layer == l && c.head == h; });
      const std::string why = a.name + " #" + std::to_string(rank + 1);
      if (it != chosen.end()) {
        if (it->why.find(a.name + " #") == std::string::npos) it->why += "; " + why;
        continue;
      }
      ++taken;
      if (chosen.size() < kPatternHeads) chosen.push_back({l, h, why});
    }
  }
  return chosen;
}

AttentionPatterns attention_patterns(const ReduceInput& input,
                                     const std::vector<std::vector<TopComponent>>& top,
                                     const PatternSource& source) {
  AttentionPatterns out;
  const std::vector<HeadRef> heads = top_heads(input, top);
  if (!source || heads.empty() || input.prompts.empty()) return out;
  const PromptInfo& prompt = input.prompts.front();
  const size_t n = prompt.clean_ids.size();
  if (n == 0) return out;
  if (n > kMaxPatternTokens) {
    log::get("report")->info("attention patterns: prompt {} has {} tokens (> {}): not shown",
                             prompt.id, n, kMaxPatternTokens);
    return out;
  }
  out.prompt_id = prompt.id;
  out.token_ids = prompt.clean_ids;
  out.tokens = prompt.tokens;
  const auto patterns = source(prompt.clean_ids, heads);
  if (patterns.empty()) return {};  // the source said why (no model here)
  if (patterns.size() != heads.size())
    throw Error("attention patterns: " + std::to_string(patterns.size()) + " patterns for " +
                std::to_string(heads.size()) + " heads");
  for (size_t i = 0; i < heads.size(); ++i) {
    if (patterns[i].size() != n * n)
      throw Error("attention patterns: head L" + std::to_string(heads[i].layer) + "H" +
                  std::to_string(heads[i].head) + " has " + std::to_string(patterns[i].size()) +
                  " values, not " + std::to_string(n * n));
    out.heads.push_back({heads[i], patterns[i]});
  }
  return out;
}

}  // namespace csweep::report
