#include "worker/analysis_request.h"

#include <map>
#include <string>

#include "jobs/kinds/kind_options.h"
#include "jobs/kinds/sae_options.h"
#include "model/model.h"

namespace csweep::worker {
namespace {

using analyses::SweepRequest;
using jobs::AnalysisSpec;
using model::HookPoint;

// What a kind's mapping reads: the job, the analysis, the prompt and the loaded model.
struct RequestInputs {
  const jobs::JobSpec& spec;
  const AnalysisSpec& a;
  size_t prompt_index;
  const jobs::PromptPair& p;
  const model::Model& model;
};

analyses::MetricKind metric_kind(jobs::Metric m) {
  switch (m) {
    case jobs::Metric::LogitDiff:
      return analyses::MetricKind::LogitDiff;
    case jobs::Metric::Prob:
      return analyses::MetricKind::Prob;
    case jobs::Metric::Logprob:
      return analyses::MetricKind::LogProb;
    case jobs::Metric::Kl:
      return analyses::MetricKind::KL;
  }
  return analyses::MetricKind::LogitDiff;
}

// The request common to every kind: the prompt pair, the metric, the seed and the batching.
SweepRequest base_request(const RequestInputs& in, uint64_t seed) {
  const jobs::JobSpec& spec = in.spec;
  const AnalysisSpec& a = in.a;
  const jobs::PromptPair& p = in.p;
  SweepRequest base;
  base.kind = a.kind->name;  // the registry's name finds the kind's computation in analyses/
  base.layers = a.layers;
  base.positions = a.positions;
  base.metric = metric_kind(spec.metric);
  for (size_t i = 0; i < p.answers.size(); ++i)
    base.answers.push_back({p.answers[i], i < p.wrongs.size() ? p.wrongs[i] : p.answers[i]});
  base.clean_tokens = p.clean;
  base.corrupted_tokens = p.corrupted;
  base.seed = seed;
  if (spec.sharding.memory_budget_bytes > 0)
    base.batch.memory_budget_bytes = int64_t(spec.sharding.memory_budget_bytes);
  base.batch.max_batch = spec.sharding.batch_size;
  return base;
}

SweepRequest patching_request(SweepRequest r, const AnalysisSpec& a, bool per_position) {
  r.point = a.sites.front();
  if (a.sites.size() > 1) r.sites = a.sites;  // the grid's leading site axis
  r.by_position = per_position;
  if (model::is_head_point(r.point)) r.heads = a.heads;
  return r;
}

// The reference set of an ablation: every prompt of the job with this prompt's length (mean:
// all of them, computed once per set by the cache; resample: the others when there are any).
std::vector<std::vector<int64_t>> ablation_references(const jobs::JobSpec& spec,
                                                      const jobs::AblationOptions& o,
                                                      size_t prompt_index) {
  std::vector<std::vector<int64_t>> refs;
  const auto& p = spec.prompts.at(prompt_index);
  for (size_t i = 0; i < spec.prompts.size(); ++i) {
    const auto& q = spec.prompts[i];
    const auto& toks = o.reference == "corrupted" && !q.corrupted.empty() ? q.corrupted : q.clean;
    if (toks.size() != p.clean.size()) continue;
    if (o.method == "resample" && i == prompt_index && spec.prompts.size() > 1) continue;
    refs.push_back(toks);
  }
  return refs;
}

// One mapping per kind with typed options; the others read the prompt and the grid only.
SweepRequest activation_patching(const RequestInputs& in) {
  const auto& o = in.a.options_as<jobs::ActivationPatchingOptions>();
  SweepRequest r = patching_request(base_request(in, in.spec.seed), in.a, o.per_position);
  r.direction =
      o.direction == "noising" ? analyses::Direction::Noising : analyses::Direction::Denoising;
  return r;
}

SweepRequest attribution_patching(const RequestInputs& in) {
  const auto& o = in.a.options_as<jobs::AttributionPatchingOptions>();
  SweepRequest r = patching_request(base_request(in, in.spec.seed), in.a, o.per_position);
  r.atp_qk_fix = o.qk_fix;
  return r;
}

SweepRequest ablation(const RequestInputs& in) {
  const auto& o = in.a.options_as<jobs::AblationOptions>();
  SweepRequest r = base_request(in, static_cast<uint64_t>(o.seed));
  r.by_position = false;
  r.point = o.target == "heads"   ? HookPoint::AttnZ
            : o.target == "mlp"   ? HookPoint::MlpOut
            : o.target == "layer" ? HookPoint::ResidPost
                                  : HookPoint::MlpPost;
  if (o.target == "heads") r.heads = in.a.heads;
  if (o.target == "neuron") r.neurons = o.neurons;
  r.ablation = analyses::parse_ablation_mode(o.method);
  r.mean_per_position = o.method == "mean" && o.mean_over == "prompts";
  r.reference_prompts = ablation_references(in.spec, o, in.prompt_index);
  return r;
}

SweepRequest causal_tracing(const RequestInputs& in) {
  const auto& o = in.a.options_as<jobs::CausalTracingOptions>();
  SweepRequest r = base_request(in, static_cast<uint64_t>(o.seed));
  r.point = o.restore == "attn"  ? HookPoint::AttnOut
            : o.restore == "mlp" ? HookPoint::MlpOut
                                 : HookPoint::ResidPost;
  for (int64_t i = in.p.subject.begin; i < in.p.subject.end; ++i) r.subject_positions.push_back(i);
  r.window = o.window;
  r.samples = o.samples;
  r.noise_std =
      o.noise_std ? *o.noise_std
                  : o.noise_multiplier * in.model.weights().W_E.to(at::kFloat).std().item<double>();
  return r;
}

SweepRequest logit_lens(const RequestInputs& in) {
  SweepRequest r = base_request(in, in.spec.seed);
  r.point = HookPoint::ResidPost;
  r.lens_values.clear();
  for (const auto& q : in.a.options_as<jobs::LogitLensOptions>().quantities)
    r.lens_values.push_back(analyses::parse_lens_value(q));
  return r;
}

SweepRequest direct_logit_attribution(const RequestInputs& in) {
  const std::string& comp = in.a.options_as<jobs::DirectLogitAttributionOptions>().components;
  SweepRequest r = base_request(in, in.spec.seed);
  r.point = comp == "heads" ? HookPoint::AttnZ
            : comp == "mlp" ? HookPoint::MlpOut
                            : HookPoint::ResidPost;
  if (comp == "heads") r.heads = in.a.heads;
  return r;
}

SweepRequest attention_scores(const RequestInputs& in) {
  SweepRequest r = base_request(in, in.spec.seed);
  r.point = HookPoint::AttnPattern;
  r.heads = in.a.heads;
  r.pattern_scores.clear();
  for (const auto& sc : in.a.options_as<jobs::AttentionScoresOptions>().scores)
    r.pattern_scores.push_back(analyses::parse_pattern_score(sc));
  return r;
}

SweepRequest steering(const RequestInputs& in) {
  const auto& o = in.a.options_as<jobs::SteeringOptions>();
  SweepRequest r = base_request(in, in.spec.seed);
  r.point = model::parse_hook_site("blocks.0." + o.site)->point;
  r.steering.scales = o.scales;
  r.steering.normalize = o.normalize;
  if (!o.values.empty()) r.steering.direction = at::tensor(o.values).view(o.shape);
  if (!o.mean_difference.empty()) {  // its two sets: every prompt's clean or corrupted run
    const bool clean_first = o.mean_difference.front() == "clean";
    for (const auto& q : in.spec.prompts) {
      r.steering.plus.push_back(clean_first ? q.clean : q.corrupted);
      r.steering.minus.push_back(clean_first ? q.corrupted : q.clean);
    }
  }
  for (const auto& q : in.spec.prompts) {  // or the clean prompts labelled labels[0] / labels[1]
    if (o.labels.size() == 2 && q.label == o.labels[0]) r.steering.plus.push_back(q.clean);
    if (o.labels.size() == 2 && q.label == o.labels[1]) r.steering.minus.push_back(q.clean);
  }
  if (o.probe) r.steering.probe_l2 = o.probe_l2;
  return r;
}

SweepRequest path_patching(const RequestInputs& in) {
  const auto& o = in.a.options_as<jobs::PathPatchingOptions>();
  SweepRequest r = base_request(in, in.spec.seed);
  r.point = o.senders == "heads" ? HookPoint::AttnZ : HookPoint::MlpOut;
  if (o.senders == "heads") r.heads = in.a.heads;
  for (const auto& x : o.receivers)
    r.path.receivers.push_back({x.input == "q"   ? HookPoint::AttnQ
                                : x.input == "k" ? HookPoint::AttnK
                                                 : HookPoint::AttnV,
                                x.layer, x.head});
  r.path.freeze_mlps = o.freeze == "heads_and_mlps";
  r.path.last_position = o.receiver_positions == "last";
  return r;
}

SweepRequest sae_features(const RequestInputs& in) {
  const auto& o = in.a.options_as<jobs::SaeFeatureOptions>();
  SweepRequest r = base_request(in, in.spec.seed);
  r.sae = o.folder.string();
  r.direction =
      o.direction == "noising" ? analyses::Direction::Noising : analyses::Direction::Denoising;
  return r;
}

SweepRequest probe(const RequestInputs& in) {
  const auto& o = in.a.options_as<jobs::ProbeOptions>();
  SweepRequest r = base_request(in, static_cast<uint64_t>(o.seed));
  r.probe.classes = o.target == "class";
  r.probe.l2 = o.l2;
  r.probe.held_out = o.held_out;
  for (const auto& q : in.spec.prompts) {
    r.probe.prompts.push_back(q.clean);
    r.probe.labels.push_back(q.label.value_or(0.0));
  }
  return r;
}

SweepRequest circuit_faithfulness(const RequestInputs& in) {
  const auto& o = in.a.options_as<jobs::CircuitFaithfulnessOptions>();
  SweepRequest r = base_request(in, in.spec.seed);
  r.point = HookPoint::AttnZ;
  for (const auto& n : o.nodes)
    r.circuit.ranked.push_back(
        {n.head < 0 ? HookPoint::MlpOut : HookPoint::AttnZ, n.layer, n.head, -1});
  r.circuit.mlps = o.universe == "heads_and_mlps";
  r.circuit.over_edges = o.universe == "edges";
  r.circuit.edges = o.edge_values;
  r.circuit.ablation = o.ablation == "mean"   ? SweepRequest::CircuitAblation::Mean
                       : o.ablation == "zero" ? SweepRequest::CircuitAblation::Zero
                                              : SweepRequest::CircuitAblation::Patch;
  if (o.ablation == "mean")  // every clean prompt of the job with this prompt's length
    for (const auto& q : in.spec.prompts)
      if (q.clean.size() == in.p.clean.size()) r.reference_prompts.push_back(q.clean);
  return r;
}

SweepRequest edge_attribution(const RequestInputs& in) {
  SweepRequest r = base_request(in, in.spec.seed);
  r.ig_steps = in.a.options_as<jobs::EdgeAttributionOptions>().ig_steps;
  return r;
}

// A whole-prompt-set kind (probe) gets every prompt: the grid's site and token axes say where
// (not r.sites: a site list there splits the grid into one call per site).
using KindRequest = SweepRequest (*)(const RequestInputs&);
const std::map<std::string, KindRequest>& kind_requests() {
  static const std::map<std::string, KindRequest> table{
      {"activation_patching", activation_patching},
      {"attribution_patching", attribution_patching},
      {"ablation", ablation},
      {"causal_tracing", causal_tracing},
      {"logit_lens", logit_lens},
      {"direct_logit_attribution", direct_logit_attribution},
      {"attention_scores", attention_scores},
      {"steering", steering},
      {"path_patching", path_patching},
      {"edge_attribution", edge_attribution},
      {"sae_feature_ablation", sae_features},
      {"sae_feature_patching", sae_features},
      {"sae_feature_attribution", sae_features},
      {"sae_feature_search", sae_features},
      {"probe", probe},
      {"circuit_faithfulness", circuit_faithfulness},
  };
  return table;
}

}  // namespace

SweepRequest request_for(const jobs::JobSpec& spec, const AnalysisSpec& a, size_t prompt_index,
                         const model::Model& model) {
  const RequestInputs in{spec, a, prompt_index, spec.prompts.at(prompt_index), model};
  const auto& table = kind_requests();
  if (auto it = table.find(a.kind->name); it != table.end()) return it->second(in);
  return base_request(in, spec.seed);
}

// The plan's grid (the kind's one grid) in the analyses library's terms.
std::vector<analyses::GridAxis> analyses_axes(const std::vector<jobs::Axis>& grid) {
  std::vector<analyses::GridAxis> axes;
  for (const auto& x : grid) {
    const bool named = x.name == "site" || x.name == "quantity" || x.name == "score";
    axes.push_back(
        analyses::GridAxis{x.name, x.values, named ? x.labels : std::vector<std::string>{}});
  }
  return axes;
}

}  // namespace csweep::worker
