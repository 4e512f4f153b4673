// The SAE feature kinds' cells (sae_feature_ablation, sae_feature_patching). A cell (f, p)
// encodes the target run's activation x at the SAE's site, sets feature f at position p to 0
// (ablation) or to its value in the source run (patching), decodes, and keeps the SAE's error:
// x' = sae.decode(acts') + (x - sae.decode(acts)) = x + (decode(acts') - decode(acts)), written
// in the second form so an unchanged feature leaves x bit for bit (the original model). Each
// cell is one batch row of the batched runner (or one plain forward: request.batch.plain).
// sae_feature_attribution estimates sae_feature_patching's cells to first order, all at once.
// sae_feature_search summarises one corpus context's feature activations (reduce ranks them).
#include <ATen/core/grad_mode.h>

#include <cmath>
#include <map>
#include <memory>
#include <mutex>
#include <utility>

#include "analyses/cells.h"
#include "common/error.h"
#include "model/sae.h"
#include "model/sae_activation_bins.h"

namespace csweep::analyses {
namespace {

Error sae_error(const std::string& field, const std::string& reason) {
  return error_at("analysis", "sae." + field, reason);
}

// One load per SAE folder and device for all the shards a worker runs.
std::shared_ptr<const model::Sae> loaded_sae(const std::string& folder, const c10::Device& device) {
  static std::mutex mutex;
  static std::map<std::string, std::shared_ptr<const model::Sae>> loaded;
  const std::string key = device.str() + "|" + folder;
  std::lock_guard<std::mutex> lock(mutex);
  auto& sae = loaded[key];
  if (!sae) sae = std::make_shared<const model::Sae>(model::load_sae(folder, device));
  return sae;
}

model::SaeNorm norm_at(const model::SaeNorm& n, int64_t pos) {
  auto at = [pos](const at::Tensor& t) { return t.defined() ? t[pos] : t; };
  return {at(n.shift), at(n.in_scale), at(n.out_scale)};
}

// What every cell of one prompt shares: the SAE, the target run (edited) and the source run's
// feature activations at the SAE's site.
struct FeatureRuns {
  std::shared_ptr<const model::Sae> sae;
  std::shared_ptr<const RunCache> target;
  at::Tensor x;  // the target run's activation [seq, d_in] (hook_z: [seq, h, d_head])
  model::SaeNorm norm;
  at::Tensor acts, source_acts;  // [seq, d_sae]; ablation: zeros
  Metric metric;

  // The (feature, position) of a cell of the [feature, pos] grid (or of a stage's candidate axis
  // over it: decode_cells follows it), checked against the SAE and the prompt.
  std::pair<int64_t, int64_t> cell(const std::vector<GridAxis>& axes, int64_t cell) const {
    const detail::Cell c = detail::decode_cells(axes, cell, cell + 1).at(0);
    if (c.feature < 0 || c.pos < 0) throw sae_error("grid", "expects [feature, pos]");
    const int64_t f = c.feature, p = c.pos;
    if (f < 0 || f >= sae->config.d_sae)
      throw sae_error("features", "feature " + std::to_string(f) + " outside the SAE's " +
                                      std::to_string(sae->config.d_sae));
    if (p < 0 || p >= x.size(0))
      throw sae_error("positions", "position " + std::to_string(p) + " past the prompt");
    return {f, p};
  }
};

FeatureRuns feature_runs(const model::Model& model, const SweepRequest& r, CacheStore& caches) {
  if (r.sae.empty()) throw sae_error("folder", "no SAE folder in the request");
  const auto sae = loaded_sae(r.sae, model.device());
  if (std::string why = model::sae_model_problem(sae->config, model.config()); !why.empty())
    throw Error(why);
  const model::HookSite site = sae->config.site;
  const bool ablate = r.kind == "sae_feature_ablation";
  if (r.clean_tokens.empty()) throw sae_error("clean_tokens", "empty prompt");
  if (!ablate && r.corrupted_tokens.size() != r.clean_tokens.size())
    throw sae_error("corrupted_tokens",
                    "patching needs a corrupted prompt as long as the clean one");
  at::NoGradGuard no_grad;
  const auto clean = caches.get(model, "clean", r.clean_tokens, {site});
  const auto corrupted = ablate ? clean : caches.get(model, "clean", r.corrupted_tokens, {site});
  const bool denoise = r.direction == Direction::Denoising;
  FeatureRuns runs{sae, ablate || !denoise ? clean : corrupted, {}, {}, {},
                   {},  detail::request_metric(r, *clean)};
  runs.x = runs.target->at_site(site)[0];
  runs.norm = sae->norm_of(runs.x);
  runs.acts = sae->encode(runs.x, runs.norm);
  runs.source_acts = ablate ? at::zeros_like(runs.acts)
                            : sae->encode((denoise ? clean : corrupted)->at_site(site)[0]);
  return runs;
}

std::vector<float> sae_feature_cells(const model::Model& model, const SweepRequest& r,
                                     const std::vector<GridAxis>& axes, int64_t begin, int64_t end,
                                     CacheStore& caches) {
  const FeatureRuns runs = feature_runs(model, r, caches);
  const int64_t heads = runs.x.dim() == 3 ? runs.x.size(1) : 0;
  at::NoGradGuard no_grad;
  std::vector<RowEdits> rows;
  for (int64_t cell = begin; cell < end; ++cell) {
    const auto [f, p] = runs.cell(axes, cell);
    const at::Tensor change = runs.source_acts[p][f] - runs.acts[p][f];
    const at::Tensor delta = runs.sae->feature_delta(f, change, norm_at(runs.norm, p), heads);
    rows.push_back({Edit{runs.sae->config.site, EditSlice{{p}, {}, {}},
                         runs.x[p] + delta.to(runs.x.scalar_type())}});
  }
  if (r.batch.plain) return run_rows_plain(model, *runs.target, rows, runs.metric);
  return run_rows(model, *runs.target, rows, runs.metric, r.batch);
}

// Attribution patching in feature space (sae_feature_attribution): the first-order estimate of
// sae_feature_patching's cells from one forward and one backward of the target run, for every
// (feature, position) at once: base + change[p, f] * (feature f's decoded direction .
// dMetric/dx[p]).
std::vector<float> sae_attribution_cells(const model::Model& model, const SweepRequest& r,
                                         const std::vector<GridAxis>& axes, int64_t begin,
                                         int64_t end, CacheStore& caches) {
  if (!model.partition().whole())
    throw error_at("analysis", "sae_feature_attribution",
                   "needs gradients through the collectives, which tensor parallelism does not "
                   "support; use model.tensor_parallel: 1");
  const FeatureRuns runs = feature_runs(model, r, caches);
  const model::Sae& sae = *runs.sae;
  at::Tensor grad;
  float base = 0.0f;
  {
    c10::AutoGradMode grad_on(true);
    const at::Tensor delta = at::zeros_like(runs.target->at_site(sae.config.site)).requires_grad_();
    model::Hooks hooks;
    hooks.add(sae.config.site,
              [&delta](at::Tensor& act, const model::HookSite&) { act = act + delta; });
    model::ForwardOptions fo;
    fo.logits = model::ForwardOptions::Logits::Last;
    const at::Tensor value =
        runs.metric.differentiable(model.forward(runs.target->tokens, &hooks, fo)).sum();
    value.backward();
    base = value.item<float>();
    grad = delta.grad();
  }
  if (!grad.defined()) throw sae_error("site", "the forward did not run " + sae.config.site.name());
  at::NoGradGuard no_grad;
  // d x[p] / d acts[p, f] is feature_delta(f, 1): the decoder row, rescaled and denormalised.
  at::Tensor g = grad[0].to(sae.dtype());
  if (sae.config.reshape_hook_z) g = g.flatten(-2);
  if (runs.norm.out_scale.defined()) g = g * runs.norm.out_scale;
  at::Tensor rows = sae.W_dec;
  if (sae.config.architecture == model::SaeArchitecture::TopK &&
      sae.config.rescale_acts_by_decoder_norm)
    rows = rows / rows.norm(2, -1, true);
  const at::Tensor per_unit = at::matmul(g, rows.t());  // [seq, d_sae]
  // One copy to the host: a GPU read per cell would synchronise once per cell.
  const at::Tensor estimate = ((runs.source_acts - runs.acts) * per_unit).to(at::kCPU, at::kFloat);
  std::vector<float> out;
  for (int64_t cell = begin; cell < end; ++cell) {
    const auto [f, p] = runs.cell(axes, cell);
    out.push_back(base + estimate[p][f].item<float>());
  }
  return out;
}

// The SAE's activations [seq, d_sae] on one context, as host floats: one forward that stops
// after the SAE's block (nothing later is read) with a hook keeping the site's activation.
at::Tensor context_acts(const model::Model& model, const model::Sae& sae,
                        const std::vector<int64_t>& tokens) {
  at::NoGradGuard no_grad;
  const model::HookSite site = sae.config.site;
  at::Tensor x;
  model::Hooks hooks;
  hooks.add(site, [&x](at::Tensor& act, const model::HookSite&) { x = act; });
  model::ForwardOptions fo;
  fo.logits = model::ForwardOptions::Logits::None;
  if (site.layer >= 0) fo.stop_layer = site.layer + 1;
  const at::Tensor ids = at::tensor(tokens, at::kLong).view({1, -1}).to(model.device());
  model.forward(ids, &hooks, fo);
  if (!x.defined()) throw sae_error("site", "the forward did not run " + site.name());
  return sae.encode(x[0]).to(at::kCPU, at::kFloat).contiguous();
}

// What the cells of one feature on one context hold (the grid's quantity order: max, argmax,
// fires, then the histogram bins of model/sae_activation_bins.h).
std::vector<float> feature_summary(at::TensorAccessor<float, 2> acts, int64_t f) {
  std::vector<float> s(3 + model::sae_bins::kBins, 0.0f);
  float max = -INFINITY;
  for (int64_t p = 0; p < acts.size(0); ++p) {
    const float v = acts[p][f];
    if (v > max) max = v, s[1] = static_cast<float>(p);  // the first position of the max
    if (v <= 0.0f) continue;
    s[2] += 1.0f;
    s[3 + model::sae_bins::bin_of(v)] += 1.0f;
  }
  s[0] = max;
  return s;
}

// sae_feature_search: grid [feature, quantity] over the context (the request's clean prompt).
std::vector<float> sae_search_cells(const model::Model& model, const SweepRequest& r,
                                    const std::vector<GridAxis>& axes, int64_t begin, int64_t end,
                                    CacheStore&) {
  if (axes.size() != 2 || axes[0].name != "feature" || axes[1].name != "quantity")
    throw sae_error("grid", "expects [feature, quantity]");
  if (r.sae.empty()) throw sae_error("folder", "no SAE folder in the request");
  if (r.clean_tokens.empty()) throw sae_error("clean_tokens", "empty context");
  const auto sae = loaded_sae(r.sae, model.device());
  if (std::string why = model::sae_model_problem(sae->config, model.config()); !why.empty())
    throw Error(why);
  const at::Tensor acts = context_acts(model, *sae, r.clean_tokens);
  const auto a = acts.accessor<float, 2>();
  const int64_t n_q = axes[1].size();
  std::vector<float> out, summary;
  int64_t summarised = -1;
  for (int64_t cell = begin; cell < end; ++cell) {
    const int64_t f = axes[0].values[cell / n_q], q = axes[1].values[cell % n_q];
    if (f < 0 || f >= sae->config.d_sae)
      throw sae_error("features", "feature " + std::to_string(f) + " outside the SAE's " +
                                      std::to_string(sae->config.d_sae));
    if (f != summarised) summary = feature_summary(a, f), summarised = f;
    if (q < 0 || q >= static_cast<int64_t>(summary.size()))
      throw sae_error("grid", "quantity " + std::to_string(q) + " unknown");
    out.push_back(summary[q]);
  }
  return out;
}

const KindCellsRegistration sae_ablation_registration("sae_feature_ablation", sae_feature_cells);
const KindCellsRegistration sae_attribution_registration("sae_feature_attribution",
                                                         sae_attribution_cells);
const KindCellsRegistration sae_patching_registration("sae_feature_patching", sae_feature_cells);
const KindCellsRegistration sae_search_registration("sae_feature_search", sae_search_cells);

}  // namespace
}  // namespace csweep::analyses
