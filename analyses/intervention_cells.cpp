// Activation patching, ablation and causal tracing: each cell becomes one batch row's edits,
// run by the batched runner (or one plain forward per cell for the reference path).
#include <algorithm>
#include <cmath>
#include <map>
#include <set>
#include <string>

#include <ATen/CPUGeneratorImpl.h>

#include "analyses/cells.h"
#include "common/error.h"

namespace csweep::analyses::detail {

using model::HookPoint;
using model::HookSite;

namespace {

HookSite site_at(HookPoint point, int64_t layer) {
  return model::is_block_point(point) ? HookSite{point, layer} : HookSite{point, -1};
}

EditSlice slice_of(const Cell& c) {
  EditSlice s;
  if (c.pos >= 0) s.positions = {c.pos};
  if (c.head >= 0) s.heads = {c.head};
  if (c.neuron >= 0) s.dims = {c.neuron};
  return s;
}

// The sites a request edits (one per layer of the grid; both block outputs for a whole-block
// ablation at hook_resid_post).
std::vector<HookPoint> edited_points(const SweepRequest& r) {
  if (r.kind == kAblation && r.point == HookPoint::ResidPost)
    return {HookPoint::AttnOut, HookPoint::MlpOut};
  return {r.point};
}

std::set<HookSite> sites_of(const SweepRequest& r, const std::vector<GridAxis>& axes,
                            const model::ModelConfig& c) {
  std::set<HookSite> sites;
  std::vector<int64_t> layers;
  for (const auto& a : axes) {
    if (a.name == "layer") layers = a.values;
  }
  if (!model::is_block_point(r.point)) return {site_at(r.point, -1)};
  if (layers.empty()) {
    for (int64_t l = 0; l < c.n_layers; ++l) layers.push_back(l);
  }
  for (HookPoint p : edited_points(r)) {
    for (int64_t l : layers) sites.insert({p, l});
  }
  return sites;
}

std::vector<float> run(const CellRange& range, const RunCache& target,
                       const std::vector<RowEdits>& rows, const Metric& metric) {
  if (range.request.batch.plain) return run_rows_plain(range.model, target, rows, metric);
  return run_rows(range.model, target, rows, metric, range.request.batch);
}

// Deterministic per-cell draw: the same cell resamples the same prompt whatever the sharding.
uint64_t mix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

std::string noise_variant(const SweepRequest& r, uint64_t seed, double std_dev) {
  std::string v =
      "noised:seed=" + std::to_string(seed) + ":std=" + std::to_string(std_dev) + ":subject=";
  for (int64_t p : r.subject_positions) v += std::to_string(p) + ",";
  return v;
}

// Meng et al.: Gaussian noise on the subject tokens' embeddings (hook_embed), seeded.
RowEdits noise_edits(const model::Model& model, const SweepRequest& r, uint64_t seed,
                     const RunCache& clean, double* std_out) {
  double std_dev = r.noise_std;
  if (std_dev <= 0.0)
    std_dev = r.noise_multiplier * model.weights().W_E.to(at::kFloat).std().item<double>();
  *std_out = std_dev;
  const at::Tensor& embed = clean.at_site({HookPoint::Embed, -1});  // [1, p, d]
  const int64_t seq = embed.size(1);
  const auto positions = resolve_positions(r.subject_positions, seq);
  at::Generator gen = at::detail::createCPUGenerator(seed);
  at::Tensor noise = at::randn({static_cast<int64_t>(positions.size()), embed.size(2)}, gen,
                               at::TensorOptions().dtype(at::kFloat)) *
                     std_dev;
  at::Tensor value = embed.to(at::kCPU, at::kFloat).clone();
  for (size_t i = 0; i < positions.size(); ++i) value[0][positions[i]] += noise[i];
  Edit e{{HookPoint::Embed, -1},
         EditSlice{positions, {}, {}},
         value.to(embed.device(), embed.scalar_type())};
  return {e};
}

std::vector<float> patching_cells(const CellRange& range) {
  const SweepRequest& r = range.request;
  const auto sites = sites_of(r, range.axes, range.model.config());
  auto clean = range.caches.get(range.model, "clean", r.clean_tokens, sites);
  auto corrupted = range.caches.get(range.model, "clean", r.corrupted_tokens, sites);
  const bool denoise = r.direction == Direction::Denoising;
  const RunCache& source = denoise ? *clean : *corrupted;
  const RunCache& target = denoise ? *corrupted : *clean;
  std::vector<RowEdits> rows;
  for (const Cell& c : decode_cells(range.axes, range.begin, range.end)) {
    const HookSite site = site_at(r.point, c.layer);
    rows.push_back({Edit{site, slice_of(c), source.at_site(site)}});
  }
  return run(range, target, rows, request_metric(r, *clean));
}

std::vector<float> ablation_cells(const CellRange& range) {
  const SweepRequest& r = range.request;
  const auto sites = sites_of(r, range.axes, range.model.config());
  auto clean = range.caches.get(range.model, "clean", r.clean_tokens, sites);
  // The reference set: computed once per prompt by the cache store and reused by every cell.
  std::vector<std::shared_ptr<const RunCache>> refs;
  if (r.ablation != AblationMode::Zero) {
    if (r.reference_prompts.empty()) refs.push_back(clean);
    for (const auto& tokens : r.reference_prompts)
      refs.push_back(range.caches.get(range.model, "clean", tokens, sites));
  }
  std::map<HookSite, at::Tensor> means;
  if (r.ablation == AblationMode::Mean) {
    for (const HookSite& s : sites) {
      std::vector<at::Tensor> acts;
      for (const auto& ref : refs) acts.push_back(ref->at_site(s).to(at::kFloat));
      at::Tensor all = at::cat(acts, 0);
      // TransformerLens: the mean over batch and positions (pattern sites: over the batch only);
      // per position: over the batch only.
      const bool over_batch = r.mean_per_position || model::is_pattern_point(s.point);
      at::Tensor m =
          over_batch ? all.mean(at::IntArrayRef{0}, true) : all.mean(at::IntArrayRef{0, 1}, true);
      means[s] = m.to(all.device(), clean->at_site(s).scalar_type());
    }
  }
  const at::Tensor zero = at::zeros({}, clean->logits_last.options());
  std::vector<RowEdits> rows;
  int64_t cell_index = range.begin;
  for (const Cell& c : decode_cells(range.axes, range.begin, range.end)) {
    RowEdits row;
    const size_t pick =
        refs.empty() ? 0
                     : mix(r.seed * 1000003ULL + static_cast<uint64_t>(cell_index)) % refs.size();
    for (HookPoint p : edited_points(r)) {
      const HookSite site = site_at(p, c.layer);
      at::Tensor value;
      switch (r.ablation) {
        case AblationMode::Zero:
          value = zero;
          break;
        case AblationMode::Mean:
          value = means.at(site);
          break;
        case AblationMode::Resample:
          value = refs[pick]->at_site(site);
          break;
      }
      row.push_back(Edit{site, slice_of(c), value});
    }
    rows.push_back(std::move(row));
    ++cell_index;
  }
  return run(range, *clean, rows, request_metric(r, *clean));
}

std::vector<float> causal_tracing_cells(const CellRange& range) {
  const SweepRequest& r = range.request;
  const auto& config = range.model.config();
  std::set<HookSite> sites;
  for (int64_t l = 0; l < config.n_layers; ++l) sites.insert({r.point, l});
  sites.insert({HookPoint::Embed, -1});
  auto clean = range.caches.get(range.model, "clean", r.clean_tokens, sites);
  const Metric metric = request_metric(r, *clean);
  std::vector<RowEdits> rows;
  for (const Cell& c : decode_cells(range.axes, range.begin, range.end)) {
    // ROME's window: layers [L - w/2, L + ceil(w/2)) clipped to the model.
    const int64_t lo = std::max<int64_t>(0, c.layer - r.window / 2);
    const int64_t hi = std::min<int64_t>(config.n_layers, c.layer + (r.window + 1) / 2);
    RowEdits row;
    for (int64_t l = lo; l < hi; ++l) {
      row.push_back(Edit{{r.point, l}, EditSlice{{c.pos}, {}, {}}, clean->at_site({r.point, l})});
    }
    rows.push_back(std::move(row));
  }
  // The indirect effect metric(restored) - metric(noised), averaged over the noise samples.
  std::vector<float> out(rows.size(), 0.0f);
  for (int64_t s = 0; s < r.samples; ++s) {
    const uint64_t seed = r.seed + static_cast<uint64_t>(s);
    double std_dev = 0.0;
    RowEdits noise = noise_edits(range.model, r, seed, *clean, &std_dev);
    auto noised =
        range.caches.get(range.model, noise_variant(r, seed, std_dev), r.clean_tokens, {}, noise);
    const float noised_value = metric(noised->logits_last)[0].item<float>();
    const auto restored = run(range, *noised, rows, metric);
    for (size_t i = 0; i < out.size(); ++i)
      out[i] += (restored[i] - noised_value) / static_cast<float>(r.samples);
  }
  return out;
}

// Each kind's computation, found by the registry's name of the kind (jobs/kinds/).
const KindCellsRegistration patching_registration(kPatching, over_range<patching_cells>);
const KindCellsRegistration ablation_registration(kAblation, over_range<ablation_cells>);
const KindCellsRegistration causal_tracing_registration(kCausalTracing,
                                                        over_range<causal_tracing_cells>);

}  // namespace

Baselines intervention_baselines(const model::Model& model, const SweepRequest& r,
                                 CacheStore& caches) {
  auto clean = caches.get(model, "clean", r.clean_tokens, {});
  if (r.answers.empty() && r.metric != MetricKind::KL) return {};
  const Metric metric = request_metric(r, *clean);
  Baselines b;
  b.clean = metric(clean->logits_last)[0].item<float>();
  b.corrupted = b.clean;
  if (r.kind == kCausalTracing) {
    std::set<HookSite> sites{{HookPoint::Embed, -1}};
    clean = caches.get(model, "clean", r.clean_tokens, sites);
    b.corrupted = 0.0;
    for (int64_t s = 0; s < r.samples; ++s) {
      const uint64_t seed = r.seed + static_cast<uint64_t>(s);
      double std_dev = 0.0;
      RowEdits noise = noise_edits(model, r, seed, *clean, &std_dev);
      auto noised = caches.get(model, noise_variant(r, seed, std_dev), r.clean_tokens, {}, noise);
      b.corrupted += metric(noised->logits_last)[0].item<float>() / static_cast<double>(r.samples);
    }
  } else if (!r.corrupted_tokens.empty()) {
    auto corrupted = caches.get(model, "clean", r.corrupted_tokens, {});
    b.corrupted = metric(corrupted->logits_last)[0].item<float>();
  }
  return b;
}

}  // namespace csweep::analyses::detail
