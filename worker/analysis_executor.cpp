#include "worker/analysis_executor.h"

#include <ATen/Parallel.h>

#include <cstdlib>
#include <optional>

#include "analyses/sweep.h"
#include "common/error.h"
#include "common/log.h"
#include "jobs/job_spec.h"
#include "model/model.h"
#include "model/tensor_io.h"

namespace csweep::worker {
namespace {

using analyses::AnalysisKind;
using analyses::SweepRequest;
using jobs::AnalysisSpec;
using model::HookPoint;

c10::ScalarType parse_dtype(const std::string& dtype, const std::string& file) {
  if (dtype == "float32") return at::kFloat;
  if (dtype == "bfloat16") return at::kBFloat16;
  if (dtype == "float16") return at::kHalf;
  throw error_at(file, "model.dtype", "unknown dtype '" + dtype + "'");
}

analyses::MetricKind metric_kind(jobs::Metric m) {
  switch (m) {
    case jobs::Metric::LogitDiff: return analyses::MetricKind::LogitDiff;
    case jobs::Metric::Prob: return analyses::MetricKind::Prob;
    case jobs::Metric::Logprob: return analyses::MetricKind::LogProb;
    case jobs::Metric::Kl: return analyses::MetricKind::KL;
  }
  return analyses::MetricKind::LogitDiff;
}

// The grid axis that selects one of several requests (an analysis over several sites); the
// remaining axes are exactly the analyses library's grid for that request.
bool is_variant_axis(const std::string& name) { return name == "site"; }

// One analysis of the job for one prompt, as one SweepRequest per variant.
std::vector<SweepRequest> requests_for(const jobs::JobSpec& spec, const AnalysisSpec& a, const jobs::PromptPair& p,
                                       size_t prompt_index, const model::Model& model) {
  const nlohmann::json& o = a.options;
  SweepRequest base;
  base.layers = a.layers;
  base.positions = a.positions;
  base.metric = metric_kind(spec.metric);
  for (size_t i = 0; i < p.answers.size(); ++i)
    base.answers.push_back({p.answers[i], i < p.wrongs.size() ? p.wrongs[i] : p.answers[i]});
  base.clean_tokens = p.clean;
  base.corrupted_tokens = p.corrupted;
  base.seed = o.contains("seed") && o["seed"].is_number_integer() ? o["seed"].get<uint64_t>() : spec.seed;
  if (spec.sharding.memory_budget_bytes > 0) base.batch.memory_budget_bytes = int64_t(spec.sharding.memory_budget_bytes);
  base.batch.max_batch = spec.sharding.batch_size;

  std::vector<SweepRequest> out;
  auto head_axis = [&](SweepRequest& r) {
    if (model::is_head_point(r.point) || r.point == HookPoint::AttnZ) r.heads = a.heads;
  };
  switch (a.kind) {
    case jobs::AnalysisKind::ActivationPatching:
    case jobs::AnalysisKind::AttributionPatching:
      for (HookPoint site : a.sites) {
        SweepRequest r = base;
        r.kind = a.kind == jobs::AnalysisKind::ActivationPatching ? AnalysisKind::Patching : AnalysisKind::AttributionPatching;
        r.point = site;
        r.by_position = o.value("per_position", true);
        r.direction = o.value("direction", std::string("denoising")) == "noising" ? analyses::Direction::Noising
                                                                                   : analyses::Direction::Denoising;
        r.atp_qk_fix = o.value("qk_fix", false);
        head_axis(r);
        out.push_back(r);
      }
      break;
    case jobs::AnalysisKind::Ablation: {
      SweepRequest r = base;
      r.kind = AnalysisKind::Ablation;
      r.by_position = false;
      std::string target = o.value("target", std::string("heads"));
      r.point = target == "heads" ? HookPoint::AttnZ
              : target == "mlp"   ? HookPoint::MlpOut
              : target == "layer" ? HookPoint::ResidPost
                                  : HookPoint::MlpPost;
      if (target == "heads") r.heads = a.heads;
      if (target == "neuron") r.neurons = o.at("neurons").get<std::vector<int64_t>>();
      std::string method = o.value("method", std::string("zero"));
      r.ablation = method == "mean" ? analyses::AblationMode::Mean
                 : method == "resample" ? analyses::AblationMode::Resample
                                        : analyses::AblationMode::Zero;
      r.mean_per_position = o.value("mean_over", std::string("prompts_and_positions")) == "prompts";
      // The reference set: every prompt of the job with this prompt's length (mean: all of
      // them, computed once per set by the cache; resample: the others when there are any).
      bool use_corrupted = o.value("reference", std::string("clean")) == "corrupted";
      for (size_t i = 0; i < spec.prompts.size(); ++i) {
        const auto& q = spec.prompts[i];
        const auto& toks = use_corrupted && !q.corrupted.empty() ? q.corrupted : q.clean;
        if (toks.size() != p.clean.size()) continue;
        if (r.ablation == analyses::AblationMode::Resample && i == prompt_index && spec.prompts.size() > 1) continue;
        r.reference_prompts.push_back(toks);
      }
      out.push_back(r);
      break;
    }
    case jobs::AnalysisKind::CausalTracing: {
      SweepRequest r = base;
      r.kind = AnalysisKind::CausalTracing;
      std::string restore = o.value("restore", std::string("resid"));
      r.point = restore == "attn" ? HookPoint::AttnOut : restore == "mlp" ? HookPoint::MlpOut : HookPoint::ResidPost;
      for (int64_t i = p.subject.begin; i < p.subject.end; ++i) r.subject_positions.push_back(i);
      r.window = o.value("window", int64_t{1});
      r.samples = o.value("samples", int64_t{1});
      if (o.contains("noise_std") && o["noise_std"].is_number()) {
        r.noise_std = o["noise_std"].get<double>();
      } else {
        double multiplier = o.value("noise_multiplier", 3.0);
        r.noise_std = multiplier * model.weights().W_E.to(at::kFloat).std().item<double>();
      }
      out.push_back(r);
      break;
    }
    case jobs::AnalysisKind::LogitLens: {
      SweepRequest r = base;
      r.kind = AnalysisKind::LogitLens;
      r.point = HookPoint::ResidPost;
      r.lens_values.clear();
      for (const auto& q : o.at("quantities")) r.lens_values.push_back(analyses::parse_lens_value(q.get<std::string>()));
      out.push_back(r);
      break;
    }
    case jobs::AnalysisKind::DirectLogitAttribution: {
      SweepRequest r = base;
      r.kind = AnalysisKind::DirectLogitAttribution;
      std::string comp = o.value("components", std::string("heads"));
      r.point = comp == "heads" ? HookPoint::AttnZ : comp == "mlp" ? HookPoint::MlpOut : HookPoint::ResidPost;
      if (comp == "heads") r.heads = a.heads;
      out.push_back(r);
      break;
    }
    case jobs::AnalysisKind::AttentionScores: {
      SweepRequest r = base;
      r.kind = AnalysisKind::AttentionScores;
      r.point = HookPoint::AttnPattern;
      r.heads = a.heads;
      r.pattern_scores.clear();
      for (const auto& sc : o.at("scores")) r.pattern_scores.push_back(analyses::parse_pattern_score(sc.get<std::string>()));
      out.push_back(r);
      break;
    }
  }
  return out;
}

}  // namespace

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
  AnalysisExecutor(const jobs::JobSpec& spec, const sharding::Plan& plan, const WorkerContext& context)
      : spec_(spec), plan_(plan), caches_(16) {
    // One thread per rank unless told otherwise: ranks beat threads on small GEMMs, and the
    // same thread count everywhere keeps results bit-identical for any number of ranks.
    int threads = 1;
    if (const char* env = std::getenv("CSWEEP_THREADS")) threads = std::max(1, std::atoi(env));
    at::set_num_threads(threads);
    model::LoadOptions load;
    load.dtype = parse_dtype(spec.model.dtype, spec.file.string());
    load.device = c10::Device(spec.model.device);
    model_ = model::Model::load(spec.model.path, load);
    log::get("worker")->info("rank {}: loaded {} ({} threads)", context.rank, spec.model.path.string(), threads);
  }

  std::vector<float> run(const sharding::Shard& shard) override {
    const sharding::AnalysisGrid& grid = plan_.grids.at(shard.analysis);
    const AnalysisSpec& analysis = spec_.analyses.at(shard.analysis);
    const jobs::PromptPair& prompt = spec_.prompts.at(shard.prompt);
    std::vector<SweepRequest> requests = requests_for(spec_, analysis, prompt, shard.prompt, *model_);

    // Split the grid's axes into the variant axis (which request) and the inner axes.
    int variant_axis = -1;
    for (size_t i = 0; i < grid.axes.size(); ++i)
      if (is_variant_axis(grid.axes[i].name)) variant_axis = int(i);
    std::vector<int64_t> sizes;
    for (const auto& ax : grid.axes) sizes.push_back(ax.size);
    int64_t n_variants = variant_axis < 0 ? 1 : sizes[size_t(variant_axis)];
    if (int64_t(requests.size()) != n_variants)
      throw Error(analysis.name + ": " + std::to_string(requests.size()) + " requests for " +
                  std::to_string(n_variants) + " grid variants");
    int64_t inner_cells = grid.cells() / std::max<int64_t>(1, n_variants);
    for (const SweepRequest& r : requests) {
      int64_t expected = analyses::grid_cells(analyses::grid_axes(r, model_->config()));
      if (expected != inner_cells)
        throw Error(analysis.name + ": the plan's grid has " + std::to_string(inner_cells) +
                    " cells per variant but the analysis computes " + std::to_string(expected));
    }

    // cell -> (variant, inner cell), then run maximal contiguous inner ranges per variant.
    auto split = [&](int64_t cell) {
      if (variant_axis < 0) return std::pair<int64_t, int64_t>{0, cell};
      int64_t rest = cell, inner = 0, inner_stride = 1, variant = 0;
      for (int i = int(sizes.size()) - 1; i >= 0; --i) {
        int64_t idx = rest % sizes[size_t(i)];
        rest /= sizes[size_t(i)];
        if (i == variant_axis) {
          variant = idx;
        } else {
          inner += idx * inner_stride;
          inner_stride *= sizes[size_t(i)];
        }
      }
      return std::pair<int64_t, int64_t>{variant, inner};
    };
    std::vector<float> out(size_t(shard.cells()));
    int64_t c = shard.cell_begin;
    while (c < shard.cell_end) {
      auto [variant, inner] = split(c);
      int64_t n = 1;
      while (c + n < shard.cell_end) {
        auto next = split(c + n);
        if (next.first != variant || next.second != inner + n) break;
        ++n;
      }
      std::vector<float> values =
          analyses::run_cells(*model_, requests[size_t(variant)], inner, inner + n, caches_);
      std::copy(values.begin(), values.end(), out.begin() + (c - shard.cell_begin));
      c += n;
    }
    return out;
  }

  // Patching-like analyses only: ablation, lens, DLA and attention scores have no corrupted
  // run (analyses::baselines would give clean twice, a fraction recovered of 0/0).
  std::optional<Baselines> baselines(const sharding::Shard& shard) override {
    const AnalysisSpec& analysis = spec_.analyses.at(shard.analysis);
    if (analysis.kind != jobs::AnalysisKind::ActivationPatching &&
        analysis.kind != jobs::AnalysisKind::AttributionPatching && analysis.kind != jobs::AnalysisKind::CausalTracing)
      return std::nullopt;
    const jobs::PromptPair& prompt = spec_.prompts.at(shard.prompt);
    std::vector<SweepRequest> requests = requests_for(spec_, analysis, prompt, shard.prompt, *model_);
    // The clean and corrupted runs do not depend on the site: any variant's request will do.
    if (requests.empty()) return std::nullopt;
    const SweepRequest& r = requests.front();
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

std::unique_ptr<ShardExecutor> make_analysis_executor(const jobs::JobSpec& spec, const sharding::Plan& plan,
                                                      const WorkerContext& context) {
  return std::make_unique<AnalysisExecutor>(spec, plan, context);
}

}  // namespace csweep::worker
