#include "worker/analysis_executor.h"

#include <ATen/Parallel.h>

#include <cstdlib>
#include <map>
#include <optional>

#include "analyses/sweep.h"
#include "analyses/weight_processing.h"
#include "common/error.h"
#include "common/log.h"
#include "jobs/job_spec.h"
#include "jobs/kinds/kind_options.h"
#include "model/model.h"
#include "model/tensor_io.h"
#include "model/weight_dtype.h"
#include "store/stage_selection.h"
#include "worker/analysis_request.h"

namespace csweep::worker {

void check_job_device(const jobs::JobSpec& spec) {
  try {
    model::check_device(c10::Device(spec.model.device));
  } catch (const Error& e) {
    throw error_at(spec.file.string(), "model.device", e.what());
  }
}

namespace {

using analyses::SweepRequest;
using jobs::AnalysisSpec;

// Path patching between survivors: the receiver axis's entries, slot-major, as the chosen heads'
// inputs (k and v: the chosen query head's KV head), then the logits (layer -1).
std::vector<SweepRequest::PathReceiver> chosen_receivers(const jobs::PathPatchingOptions& o,
                                                         const AnalysisSpec& source,
                                                         const std::vector<int64_t>& chosen,
                                                         const model::ModelConfig& config) {
  std::vector<SweepRequest::PathReceiver> out;
  const int64_t group = config.n_heads / config.n_kv_heads;
  for (int64_t cell : chosen) {
    const auto node = jobs::circuit_node_of(source, cell);
    for (const std::string& input : o.chosen_inputs) {
      if (input == "q")
        out.push_back({model::HookPoint::AttnQ, node.layer, node.head});
      else
        out.push_back({input == "k" ? model::HookPoint::AttnK : model::HookPoint::AttnV, node.layer,
                       node.head / group});
    }
  }
  if (o.chosen_logits) out.push_back({model::HookPoint::AttnQ, -1, 0});
  return out;
}

class AnalysisExecutor final : public ShardExecutor {
 public:
  AnalysisExecutor(const jobs::JobSpec& spec, const sharding::Plan& plan,
                   const WorkerContext& context)
      : spec_(spec), plan_(plan), store_dir_(context.store_dir), caches_(16) {
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
    SweepRequest request = request_for(spec_, analysis, shard.prompt, *model_);
    if (analysis.stage && analysis.stage->ranked_list) {  // the chosen heads or MLPs, best first
      const jobs::AnalysisSpec& source = spec_.analyses.at(analysis.stage->source);
      request.circuit.ranked.clear();
      request.circuit.edges.clear();
      const std::vector<jobs::Axis> from = source.kind->grid(source);
      for (int64_t cell : selection(analysis).chosen_grid_cells) {
        if (request.circuit.over_edges) {  // an edge_attribution's edges (grid values)
          request.circuit.edges.push_back(from.at(0).values.at(static_cast<size_t>(cell)));
          continue;
        }
        const auto node = jobs::circuit_node_of(source, cell);
        SweepRequest::CircuitNode n;
        n.point = node.head >= 0 ? model::HookPoint::AttnZ : model::HookPoint::MlpOut;
        n.layer = node.layer;
        n.head = node.head;
        request.circuit.ranked.push_back(n);
      }
    } else if (analysis.stage) {  // the shard's chosen cells, as cells of the kind's own grid
      const store::StageSelection& chosen = selection(analysis);
      analyses::GridAxis candidates{
          "candidate", {}, {}, analyses_axes(analysis.kind->grid(analysis))};
      candidates.values.assign(chosen.cells.begin() + shard.cell_begin,
                               chosen.cells.begin() + shard.cell_end);
      const auto* path = dynamic_cast<const jobs::PathPatchingOptions*>(analysis.options.get());
      if (path && path->chosen_slots > 0)
        request.path.by_cell = chosen_receivers(*path, spec_.analyses.at(analysis.stage->source),
                                                chosen.chosen_grid_cells, model_->config());
      return analyses::run_cells(*model_, request, {candidates}, 0, shard.cells(), caches_);
    }
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
  // Written by the coordinator before it hands out the stage's first shard.
  const store::StageSelection& selection(const AnalysisSpec& analysis) {
    auto it = selections_.find(analysis.name);
    if (it != selections_.end()) return it->second;
    auto chosen = store::read_stage_selection(store_dir_, analysis.name);
    if (!chosen)
      throw Error(store::stage_selection_file(store_dir_, analysis.name).string() +
                  ": missing (the stage's cells were not chosen yet)");
    if (static_cast<int64_t>(chosen->cells.size()) != analysis.stage->cells)
      throw error_at(store::stage_selection_file(store_dir_, analysis.name).string(), "cells",
                     std::to_string(chosen->cells.size()) + " cells, the plan has " +
                         std::to_string(analysis.stage->cells));
    return selections_.emplace(analysis.name, std::move(*chosen)).first->second;
  }

  const jobs::JobSpec& spec_;
  const sharding::Plan& plan_;
  std::filesystem::path store_dir_;
  std::map<std::string, store::StageSelection> selections_;
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
