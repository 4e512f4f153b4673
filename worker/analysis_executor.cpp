#include "worker/analysis_executor.h"

#include <ATen/Parallel.h>

#include <cstdlib>
#include <optional>

#include "analyses/sweep.h"
#include "analyses/weight_processing.h"
#include "common/error.h"
#include "common/log.h"
#include "jobs/job_spec.h"
#include "jobs/kinds/kind_options.h"
#include "jobs/kinds/sae_options.h"
#include "model/model.h"
#include "model/tensor_io.h"
#include "model/weight_dtype.h"

namespace csweep::worker {
namespace {

using analyses::SweepRequest;
using jobs::AnalysisSpec;
using model::HookPoint;

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
SweepRequest base_request(const jobs::JobSpec& spec, const AnalysisSpec& a,
                          const jobs::PromptPair& p, uint64_t seed) {
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

}  // namespace

// One analysis of the job for one prompt, as the analyses library's request: the kind's typed
// options mapped onto it.
SweepRequest request_for(const jobs::JobSpec& spec, const AnalysisSpec& a, size_t prompt_index,
                         const model::Model& model) {
  const jobs::PromptPair& p = spec.prompts.at(prompt_index);
  const std::string& kind = a.kind->name;
  if (kind == "activation_patching") {
    const auto& o = a.options_as<jobs::ActivationPatchingOptions>();
    SweepRequest r = patching_request(base_request(spec, a, p, spec.seed), a, o.per_position);
    r.direction =
        o.direction == "noising" ? analyses::Direction::Noising : analyses::Direction::Denoising;
    return r;
  }
  if (kind == "attribution_patching") {
    const auto& o = a.options_as<jobs::AttributionPatchingOptions>();
    SweepRequest r = patching_request(base_request(spec, a, p, spec.seed), a, o.per_position);
    r.atp_qk_fix = o.qk_fix;
    return r;
  }
  if (kind == "ablation") {
    const auto& o = a.options_as<jobs::AblationOptions>();
    SweepRequest r = base_request(spec, a, p, static_cast<uint64_t>(o.seed));
    r.by_position = false;
    r.point = o.target == "heads"   ? HookPoint::AttnZ
              : o.target == "mlp"   ? HookPoint::MlpOut
              : o.target == "layer" ? HookPoint::ResidPost
                                    : HookPoint::MlpPost;
    if (o.target == "heads") r.heads = a.heads;
    if (o.target == "neuron") r.neurons = o.neurons;
    r.ablation = analyses::parse_ablation_mode(o.method);
    r.mean_per_position = o.method == "mean" && o.mean_over == "prompts";
    r.reference_prompts = ablation_references(spec, o, prompt_index);
    return r;
  }
  if (kind == "causal_tracing") {
    const auto& o = a.options_as<jobs::CausalTracingOptions>();
    SweepRequest r = base_request(spec, a, p, static_cast<uint64_t>(o.seed));
    r.point = o.restore == "attn"  ? HookPoint::AttnOut
              : o.restore == "mlp" ? HookPoint::MlpOut
                                   : HookPoint::ResidPost;
    for (int64_t i = p.subject.begin; i < p.subject.end; ++i) r.subject_positions.push_back(i);
    r.window = o.window;
    r.samples = o.samples;
    r.noise_std =
        o.noise_std ? *o.noise_std
                    : o.noise_multiplier * model.weights().W_E.to(at::kFloat).std().item<double>();
    return r;
  }
  if (kind == "logit_lens") {
    SweepRequest r = base_request(spec, a, p, spec.seed);
    r.point = HookPoint::ResidPost;
    r.lens_values.clear();
    for (const auto& q : a.options_as<jobs::LogitLensOptions>().quantities)
      r.lens_values.push_back(analyses::parse_lens_value(q));
    return r;
  }
  if (kind == "direct_logit_attribution") {
    const std::string& comp = a.options_as<jobs::DirectLogitAttributionOptions>().components;
    SweepRequest r = base_request(spec, a, p, spec.seed);
    r.point = comp == "heads" ? HookPoint::AttnZ
              : comp == "mlp" ? HookPoint::MlpOut
                              : HookPoint::ResidPost;
    if (comp == "heads") r.heads = a.heads;
    return r;
  }
  if (kind == "attention_scores") {
    SweepRequest r = base_request(spec, a, p, spec.seed);
    r.point = HookPoint::AttnPattern;
    r.heads = a.heads;
    r.pattern_scores.clear();
    for (const auto& sc : a.options_as<jobs::AttentionScoresOptions>().scores)
      r.pattern_scores.push_back(analyses::parse_pattern_score(sc));
    return r;
  }
  if (kind == "steering") {
    const auto& o = a.options_as<jobs::SteeringOptions>();
    SweepRequest r = base_request(spec, a, p, spec.seed);
    r.point = model::parse_hook_site("blocks.0." + o.site)->point;
    r.steering.scales = o.scales;
    r.steering.normalize = o.normalize;
    if (!o.values.empty()) r.steering.direction = at::tensor(o.values).view(o.shape);
    if (!o.mean_difference.empty()) {  // its two sets: every prompt's clean or corrupted run
      const bool clean_first = o.mean_difference.front() == "clean";
      for (const auto& q : spec.prompts) {
        r.steering.plus.push_back(clean_first ? q.clean : q.corrupted);
        r.steering.minus.push_back(clean_first ? q.corrupted : q.clean);
      }
    }
    for (const auto& q : spec.prompts) {  // or the clean prompts labelled labels[0] / labels[1]
      if (o.labels.size() == 2 && q.label == o.labels[0]) r.steering.plus.push_back(q.clean);
      if (o.labels.size() == 2 && q.label == o.labels[1]) r.steering.minus.push_back(q.clean);
    }
    if (o.probe) r.steering.probe_l2 = o.probe_l2;
    return r;
  }
  if (kind == "path_patching") {
    const auto& o = a.options_as<jobs::PathPatchingOptions>();
    SweepRequest r = base_request(spec, a, p, spec.seed);
    r.point = o.senders == "heads" ? HookPoint::AttnZ : HookPoint::MlpOut;
    if (o.senders == "heads") r.heads = a.heads;
    for (const auto& x : o.receivers)
      r.path.receivers.push_back({x.input == "q"   ? HookPoint::AttnQ
                                  : x.input == "k" ? HookPoint::AttnK
                                                   : HookPoint::AttnV,
                                  x.layer, x.head});
    r.path.freeze_mlps = o.freeze == "heads_and_mlps";
    r.path.last_position = o.receiver_positions == "last";
    return r;
  }
  if (kind.rfind("sae_feature_", 0) == 0) {
    const auto& o = a.options_as<jobs::SaeFeatureOptions>();
    SweepRequest r = base_request(spec, a, p, spec.seed);
    r.sae = o.folder.string();
    r.direction =
        o.direction == "noising" ? analyses::Direction::Noising : analyses::Direction::Denoising;
    return r;
  }
  // One request covers the whole labelled prompt set; the grid's site and token axes say where
  // (not r.sites: a site list there splits the grid into one call per site).
  if (kind == "probe") {
    const auto& o = a.options_as<jobs::ProbeOptions>();
    SweepRequest r = base_request(spec, a, p, static_cast<uint64_t>(o.seed));
    r.probe.classes = o.target == "class";
    r.probe.l2 = o.l2;
    r.probe.held_out = o.held_out;
    for (const auto& q : spec.prompts) {
      r.probe.prompts.push_back(q.clean);
      r.probe.labels.push_back(q.label.value_or(0.0));
    }
    return r;
  }
  // Any other kind's cells read the prompt and the grid only.
  return base_request(spec, a, p, spec.seed);
}

// The plan's grid (the kind's one grid) in the analyses library's terms.
std::vector<analyses::GridAxis> analyses_axes(const sharding::AnalysisGrid& grid) {
  std::vector<analyses::GridAxis> axes;
  for (const auto& x : grid.axes) {
    const bool named = x.name == "site" || x.name == "quantity" || x.name == "score";
    axes.push_back(
        analyses::GridAxis{x.name, x.values, named ? x.labels : std::vector<std::string>{}});
  }
  return axes;
}

void check_job_device(const jobs::JobSpec& spec) {
  try {
    model::check_device(c10::Device(spec.model.device));
  } catch (const Error& e) {
    throw error_at(spec.file.string(), "model.device", e.what());
  }
}

namespace {

class AnalysisExecutor final : public ShardExecutor {
 public:
  AnalysisExecutor(const jobs::JobSpec& spec, const sharding::Plan& plan,
                   const WorkerContext& context)
      : spec_(spec), plan_(plan), caches_(16) {
    // One thread per rank unless told otherwise: ranks beat threads on small GEMMs, and the
    // same thread count everywhere keeps results bit-identical for any number of ranks.
    int threads = 1;
    if (const char* env = std::getenv("CSWEEP_THREADS")) threads = std::max(1, std::atoi(env));
    at::set_num_threads(threads);
    model::LoadOptions load;
    std::string dtype_field = spec.file.string();
    dtype_field += ": model.dtype";
    load.dtype = model::scalar_type(model::weight_dtype(spec.model.dtype, dtype_field));
    load.device = c10::Device(context.device.empty() ? spec.model.device : context.device);
    load.tensor_parallel = context.tensor_parallel;  // null: the whole model
    model_ = model::Model::load(spec.model.path, load);
    if (const jobs::WeightProcessingSpec& w = spec.model.process_weights; w.any())
      analyses::process_weights(
          *model_, {w.fold_ln, w.center_writing_weights, w.center_unembed, w.fold_value_biases});
    const model::Partition& part = model_->partition();
    log::get("worker")->info(
        "rank {}: loaded {} on {} ({} threads; tensor-parallel rank {} of {}: query heads "
        "[{}, {}), MLP neurons [{}, {}))",
        context.rank, spec.model.path.string(), load.device.str(), threads, part.rank, part.size,
        part.q_first, part.q_first + part.q_count, part.mlp_first, part.mlp_first + part.mlp_count);
  }

  std::vector<float> run(const sharding::Shard& shard) override {
    const sharding::AnalysisGrid& grid = plan_.grids.at(shard.analysis);
    const AnalysisSpec& analysis = spec_.analyses.at(shard.analysis);
    const SweepRequest request = request_for(spec_, analysis, shard.prompt, *model_);
    const std::vector<analyses::GridAxis> axes = analyses_axes(grid);
    return analyses::run_cells(*model_, request, axes, shard.cell_begin, shard.cell_end, caches_);
  }

  // Only kinds whose reduce defaults use them: patching (clean and corrupted runs), causal
  // tracing (clean and noised) and ablation (its effect is measured from the clean run); lens,
  // DLA and attention scores have no second run.
  std::optional<Baselines> baselines(const sharding::Shard& shard) override {
    const AnalysisSpec& analysis = spec_.analyses.at(shard.analysis);
    if (analysis.kind->reduce.baselines == jobs::Baselines::None) return std::nullopt;
    // The clean and corrupted runs do not depend on the site: the first site's request will do.
    SweepRequest r = request_for(spec_, analysis, shard.prompt, *model_);
    r.sites.clear();
    if (r.answers.empty() && r.metric != analyses::MetricKind::KL) return std::nullopt;
    const analyses::Baselines b = analyses::baselines(*model_, r, caches_);
    return Baselines{b.clean, b.corrupted};
  }

 private:
  const jobs::JobSpec& spec_;
  const sharding::Plan& plan_;
  std::shared_ptr<model::Model> model_;
  analyses::CacheStore caches_;
};

}  // namespace

std::unique_ptr<ShardExecutor> make_analysis_executor(const jobs::JobSpec& spec,
                                                      const sharding::Plan& plan,
                                                      const WorkerContext& context) {
  return std::make_unique<AnalysisExecutor>(spec, plan, context);
}

}  // namespace csweep::worker
