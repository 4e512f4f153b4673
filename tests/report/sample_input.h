#pragma once
// A small, fully known ReduceInput for the report tests: three prompts, a layer x head x pos
// patching analysis with baselines (partly done), a layer x pos tracing analysis and a
// site x layer analysis with named labels. Values are a closed-form function of the cell so
// tests can predict every statistic.
#include <cmath>

#include "report/reduce_input.h"

namespace csweep::report::testing {

// value(prompt p, cell c) = (c % 7 - 3) * 0.5 + p * 0.25
inline float sample_value(int64_t p, int64_t c) {
  return static_cast<float>((c % 7 - 3) * 0.5 + p * 0.25);
}

inline AnalysisInput sample_analysis(const std::string& name, const std::string& kind,
                                     std::vector<AxisInfo> axes, int n_prompts) {
  AnalysisInput a;
  a.name = name;
  a.kind = kind;
  a.metric = "logit_diff";
  a.axes = std::move(axes);
  const int64_t cells = a.cells();
  for (int p = 0; p < n_prompts; ++p) {
    std::vector<float> v(cells);
    for (int64_t c = 0; c < cells; ++c) v[c] = sample_value(p, c);
    a.values.push_back(v);
    a.done.emplace_back(cells, 1);
  }
  return a;
}

inline AxisInfo index_axis(const std::string& name, int64_t size) {
  AxisInfo a{name, size, {}, {}};
  for (int64_t i = 0; i < size; ++i) a.labels.push_back(std::to_string(i)), a.values.push_back(i);
  return a;
}

// A clean/corrupted pair: the corrupted prompt replaces the second name (position 3) with
// `other`; ids are 100 + position (the replacement 900 + prompt), the answer is the clean
// second name's id, the wrong one the first name's; baselines 2.0 and -1.0 but for p2.
inline PromptInfo sample_prompt(const std::string& id, const std::vector<std::string>& tokens,
                                const std::string& other) {
  PromptInfo p;
  p.id = id;
  p.tokens = tokens;
  for (const auto& t : tokens) p.text += t;
  p.corrupted_tokens = tokens;
  p.corrupted_tokens[3] = other;
  for (const auto& t : p.corrupted_tokens) p.corrupted_text += t;
  for (int64_t i = 0; i < static_cast<int64_t>(tokens.size()); ++i) p.clean_ids.push_back(100 + i);
  p.corrupted_ids = p.clean_ids;
  p.corrupted_ids[3] = 900 + (id.back() - '0');
  p.answer_ids = {103}, p.answer_tokens = {tokens[3]};
  p.wrong_ids = {101}, p.wrong_tokens = {tokens[1]};
  if (id != "p2") p.clean_metric = 2.0, p.corrupted_metric = -1.0;
  return p;
}

inline ReduceInput sample_input() {
  ReduceInput in;
  in.job_name = "ioi-sample";
  in.model = "examples/models/gpt2-tiny";
  in.spec_yaml = "name: ioi-sample\nmetric: logit_diff\n";
  in.spec_hash = "0123abcd";
  in.provenance = {
      {"csweep_version", "0.1.0"}, {"git_sha", "deadbeef"}, {"hosts", {"node1"}}, {"seed", 7}};
  in.metric = "logit_diff";
  in.prompts = {sample_prompt("p0", {"When", " Mary", " and", " John", " went", " to"}, " Kate"),
                sample_prompt("p1", {"When", " Anna", " and", " Bob", " went", " to"}, " Tom"),
                sample_prompt("p2", {"When", " Ann", " and", " Tim", " went", " to"}, "<0xE2>")};

  // Positions 1, 3, 5 of the prompts (labels are the model positions).
  AxisInfo pos{"pos", 3, {"1", "3", "5"}, {1, 3, 5}};
  AnalysisInput heads = sample_analysis("head_patching", "activation_patching",
                                        {index_axis("layer", 4), pos, index_axis("head", 2)}, 3);
  heads.clean_baseline = {2.0, 2.5, std::nullopt};
  heads.corrupted_baseline = {-1.0, -0.5, -1.0};
  // Prompt 2 is only half done (an interrupted sweep).
  for (int64_t c = heads.cells() / 2; c < heads.cells(); ++c) heads.done[2][c] = 0;
  in.analyses.push_back(heads);

  in.analyses.push_back(
      sample_analysis("resid_tracing", "causal_tracing", {index_axis("layer", 4), pos}, 3));
  AxisInfo site{"site", 3, {"resid_post", "attn_out", "mlp_out"}, {-1, -1, -1}};
  in.analyses.push_back(
      sample_analysis("site_ablation", "ablation", {site, index_axis("layer", 4)}, 3));
  return in;
}

}  // namespace csweep::report::testing
