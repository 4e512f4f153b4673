// The SAE feature kinds' cells (sae_feature_ablation, sae_feature_patching). A cell (f, p)
// encodes the target run's activation x at the SAE's site, sets feature f at position p to 0
// (ablation) or to its value in the source run (patching), decodes, and keeps the SAE's error:
// x' = sae.decode(acts') + (x - sae.decode(acts)) = x + (decode(acts') - decode(acts)), written
// in the second form so an unchanged feature leaves x bit for bit (the original model). Each
// cell is one batch row of the batched runner (or one plain forward: request.batch.plain).
#include <ATen/core/grad_mode.h>

#include <map>
#include <memory>
#include <mutex>

#include "analyses/cells.h"
#include "common/error.h"
#include "model/sae.h"

namespace csweep::analyses {
namespace {

Error bad(const std::string& field, const std::string& reason) {
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

std::vector<float> sae_feature_cells(const model::Model& model, const SweepRequest& r,
                                     const std::vector<GridAxis>& axes, int64_t begin, int64_t end,
                                     CacheStore& caches) {
  if (axes.size() != 2 || axes[0].name != "feature" || axes[1].name != "pos")
    throw bad("grid", "expects [feature, pos]");
  if (r.sae.empty()) throw bad("folder", "no SAE folder in the request");
  const auto sae = loaded_sae(r.sae, model.device());
  if (std::string why = model::sae_model_problem(sae->config, model.config()); !why.empty())
    throw Error(why);
  const model::HookSite site = sae->config.site;
  const bool ablate = r.kind == "sae_feature_ablation";
  if (r.clean_tokens.empty()) throw bad("clean_tokens", "empty prompt");
  if (!ablate && r.corrupted_tokens.size() != r.clean_tokens.size())
    throw bad("corrupted_tokens", "patching needs a corrupted prompt as long as the clean one");
  at::NoGradGuard no_grad;
  const auto clean = caches.get(model, "clean", r.clean_tokens, {site});
  const auto corrupted = ablate ? clean : caches.get(model, "clean", r.corrupted_tokens, {site});
  const bool denoise = r.direction == Direction::Denoising;
  const RunCache& target = ablate || !denoise ? *clean : *corrupted;
  const RunCache& source = denoise ? *clean : *corrupted;

  const at::Tensor x = target.at_site(site)[0];  // [seq, d_in] (hook_z: [seq, h, d_head])
  const int64_t heads = x.dim() == 3 ? x.size(1) : 0;
  const model::SaeNorm norm = sae->norm_of(x);
  const at::Tensor acts = sae->encode(x, norm);  // [seq, d_sae]
  const at::Tensor source_acts =
      ablate ? at::zeros_like(acts) : sae->encode(source.at_site(site)[0]);

  const int64_t n_pos = axes[1].size();
  std::vector<RowEdits> rows;
  for (int64_t cell = begin; cell < end; ++cell) {
    const int64_t f = axes[0].values[cell / n_pos], p = axes[1].values[cell % n_pos];
    if (f < 0 || f >= sae->config.d_sae)
      throw bad("features", "feature " + std::to_string(f) + " outside the SAE's " +
                                std::to_string(sae->config.d_sae));
    if (p < 0 || p >= x.size(0))
      throw bad("positions", "position " + std::to_string(p) + " past the prompt");
    const at::Tensor change = source_acts[p][f] - acts[p][f];
    const at::Tensor delta = sae->feature_delta(f, change, norm_at(norm, p), heads);
    rows.push_back({Edit{site, EditSlice{{p}, {}, {}}, x[p] + delta.to(x.scalar_type())}});
  }
  const Metric metric = detail::request_metric(r, *clean);
  if (r.batch.plain) return run_rows_plain(model, target, rows, metric);
  return run_rows(model, target, rows, metric, r.batch);
}

const KindCellsRegistration ablation("sae_feature_ablation", sae_feature_cells);
const KindCellsRegistration patching("sae_feature_patching", sae_feature_cells);

}  // namespace
}  // namespace csweep::analyses
