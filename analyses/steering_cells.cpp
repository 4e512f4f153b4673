// The steering kind's cells. A cell's run starts at its layer from the clean run's cached
// hook_resid_pre (earlier blocks are unchanged by the edit), is one batch-1 forward whatever the
// shard, and adds scale x v with a plain `act + delta`: a cell's value never depends on which
// shard computed it, and scale 0 is bit-identical to the clean run.
#include "analyses/steering.h"

#include <ATen/core/grad_mode.h>

#include <map>
#include <set>
#include <tuple>

#include "analyses/cells.h"
#include "analyses/probe.h"
#include "common/error.h"

namespace csweep::analyses {
namespace {

using model::HookPoint;

Error steering_error(const std::string& field, const std::string& reason) {
  return error_at("analysis", "steering." + field, reason);
}

bool is_residual_point(HookPoint p) {
  return p == HookPoint::ResidPre || p == HookPoint::ResidMid || p == HookPoint::ResidPost;
}

// The last position's activation at `point` of every layer in one prompt's clean run:
// [n_layers, d_model] f32 (one cached run per prompt holds every layer's site).
at::Tensor last_position(const model::Model& model, HookPoint point,
                         const std::vector<int64_t>& tokens, CacheStore& caches) {
  std::set<model::HookSite> sites;
  for (int64_t l = 0; l < model.config().n_layers; ++l) sites.insert({point, l});
  const auto run = caches.get(model, "clean", tokens, sites);
  std::vector<at::Tensor> rows;
  for (const auto& site : sites) {
    const at::Tensor act = run->at_site(site);
    rows.push_back(act[0][act.size(1) - 1].to(at::kFloat));
  }
  return at::stack(rows);
}

at::Tensor mean_last_position(const model::Model& model, HookPoint point,
                              const std::vector<std::vector<int64_t>>& prompts,
                              CacheStore& caches) {
  at::Tensor sum;
  for (const auto& tokens : prompts) {
    const at::Tensor last = last_position(model, point, tokens, caches);
    sum = sum.defined() ? sum + last : last;
  }
  return sum / static_cast<double>(prompts.size());
}

// Per layer, the weight of a ridge probe on the last position telling plus (1) from minus (0).
at::Tensor probe_weights(const model::Model& model, const SweepRequest& r, CacheStore& caches) {
  const auto& s = r.steering;
  RidgeStats stats(model.config().d_model, 1);
  for (const auto* set : {&s.plus, &s.minus})
    for (const auto& tokens : *set)
      stats.add(last_position(model, r.point, tokens, caches).to(at::kCPU),
                at::full({1}, set == &s.plus ? 1.0 : 0.0, at::kDouble));
  const at::Tensor w = stats.solve(s.probe_l2);  // [n_layers, d_model + 1, 1]: weights, bias
  return w.narrow(1, 0, model.config().d_model).squeeze(2).to(model.device(), at::kFloat);
}

// The direction from the two prompt sets: their mean difference, or a probe's weight.
at::Tensor set_direction(const model::Model& model, const SweepRequest& r, CacheStore& caches) {
  const auto& s = r.steering;
  if (s.plus.empty() || s.minus.empty())
    throw steering_error("direction", "no direction and no prompts for a mean difference");
  if (s.probe_l2 > 0) return probe_weights(model, r, caches);
  return mean_last_position(model, r.point, s.plus, caches) -
         mean_last_position(model, r.point, s.minus, caches);
}

// A cache key naming the set direction: the site, the method and both prompt sets.
std::string set_direction_key(const SweepRequest& r) {
  std::string key = "steering:";
  key += model::point_suffix(r.point);
  if (r.steering.probe_l2 > 0) key += ":probe:" + std::to_string(r.steering.probe_l2);
  for (const auto* set : {&r.steering.plus, &r.steering.minus}) {
    key += '|';
    for (const auto& tokens : *set) {
      key += ';';
      for (int64_t t : tokens) key += std::to_string(t) + ',';
    }
  }
  return key;
}

// The grid coordinates of one cell by axis name.
std::map<std::string, int64_t> coordinates_by_axis(const std::vector<GridAxis>& axes,
                                                   int64_t cell) {
  std::map<std::string, int64_t> x;
  for (size_t a = axes.size(); a-- > 0; cell /= axes[a].size())
    x[axes[a].name] = axes[a].values[cell % axes[a].size()];
  return x;
}

void check_grid(const std::vector<GridAxis>& axes) {
  std::vector<std::string> names;
  for (const auto& a : axes) names.push_back(a.name);
  const bool ok = names == std::vector<std::string>{"layer", "scale", "quantity"} ||
                  names == std::vector<std::string>{"layer", "pos", "scale", "quantity"};
  if (!ok) throw steering_error("grid", "expects [layer, (pos,) scale, quantity]");
}

// The last position's logits [1, 1, V] with scale x v added at `site` (at `pos`, or at every
// position when pos < 0), resumed from the clean run's residual at the site's block.
at::Tensor steered_logits(const model::Model& model, const RunCache& clean,
                          const model::HookSite& site, int64_t pos, const at::Tensor& delta) {
  const int64_t seq = static_cast<int64_t>(clean.token_ids.size());
  model::Hooks hooks;
  hooks.add(site, [&](at::Tensor& act, const model::HookSite&) {
    at::Tensor add = delta.to(act.device(), act.scalar_type()).view({1, 1, -1});
    if (pos >= 0) {
      // The last block may run only the last position: index from the end.
      const int64_t i = pos - (seq - act.size(1));
      if (i < 0) return;
      at::Tensor at_pos = at::zeros_like(act);
      at_pos.select(1, i).copy_(add.select(1, 0).expand({act.size(0), -1}));
      add = at_pos;
    }
    act = act + add;
  });
  // The clean run caches the last block's hook_resid_post, so its last block runs every
  // position; a hook there makes this run do the same GEMMs (not the last position alone), which
  // keeps scale 0 bit-identical to it.
  hooks.add({HookPoint::ResidPost, model.config().n_layers - 1},
            [](at::Tensor&, const model::HookSite&) {});
  model::ForwardOptions fo;
  fo.start_layer = site.layer;
  fo.start_resid = clean.at_site({HookPoint::ResidPre, site.layer});
  fo.logits = model::ForwardOptions::Logits::Last;
  return model.forward(at::Tensor(), &hooks, fo);
}

std::vector<float> steering_cells(const model::Model& model, const SweepRequest& r,
                                  const std::vector<GridAxis>& axes, int64_t begin, int64_t end,
                                  CacheStore& caches) {
  check_grid(axes);
  if (!is_residual_point(r.point))
    throw steering_error("site",
                         "only hook_resid_pre, hook_resid_mid and hook_resid_post are steered");
  // A hook at a site the model lacks would never run: the cells would all be the clean run.
  if (std::string why; !model::site_exists({r.point, 0}, model.config(), &why))
    throw steering_error("site", std::string(model::point_suffix(r.point)) +
                                     " does not exist in this model: " + why);
  if (r.clean_tokens.empty()) throw steering_error("clean_tokens", "empty prompt");
  at::NoGradGuard no_grad;
  const auto clean = caches.get(model, "clean", r.clean_tokens, {});
  const at::Tensor directions = steering_directions(model, r, caches);
  const Metric metric = detail::request_metric(r, *clean);
  const Metric kl(MetricKind::KL, {}, clean->logits_last);
  const int64_t seq = static_cast<int64_t>(r.clean_tokens.size());

  std::vector<float> out;
  std::tuple<int64_t, int64_t, int64_t> run_of_cell{-1, -1, -1};  // (layer, pos, scale)
  at::Tensor logits;
  for (int64_t cell = begin; cell < end; ++cell) {
    const auto x = coordinates_by_axis(axes, cell);
    const int64_t layer = x.at("layer"), scale = x.at("scale");
    const int64_t pos = x.count("pos") ? x.at("pos") : -1;
    if (scale < 0 || scale >= static_cast<int64_t>(r.steering.scales.size()))
      throw steering_error("scales", "scale index " + std::to_string(scale) + " out of range");
    if (pos >= seq)
      throw steering_error("positions", "position " + std::to_string(pos) + " past the prompt");
    if (std::make_tuple(layer, pos, scale) != run_of_cell) {
      run_of_cell = {layer, pos, scale};
      const at::Tensor delta = directions[layer] * r.steering.scales[scale];
      logits = steered_logits(model, *clean, {r.point, layer}, pos, delta);
    }
    switch (static_cast<SteeringQuantity>(x.at("quantity"))) {
      case SteeringQuantity::Metric:
        out.push_back(metric(logits)[0].item<float>());
        break;
      case SteeringQuantity::KL:
        out.push_back(kl(logits)[0].item<float>());
        break;
      case SteeringQuantity::TopToken:
        out.push_back(static_cast<float>(logits[0][0].argmax().item<int64_t>()));
        break;
      default:
        throw steering_error("quantities", "unknown quantity " + std::to_string(x.at("quantity")));
    }
  }
  return out;
}

const KindCellsRegistration steering_registration("steering", steering_cells);

}  // namespace

at::Tensor steering_directions(const model::Model& model, const SweepRequest& r,
                               CacheStore& caches) {
  const model::ModelConfig& c = model.config();
  const auto& s = r.steering;
  at::Tensor v;
  if (s.direction.defined()) {
    v = s.direction.to(model.device(), at::kFloat);
    if (v.dim() == 1) v = v.unsqueeze(0).expand({c.n_layers, -1});
    if (v.dim() != 2 || v.size(0) != c.n_layers || v.size(1) != c.d_model)
      throw steering_error("direction", "shape " + std::string(c10::str(s.direction.sizes())) +
                                            " is neither [d_model] nor [n_layers, d_model] = [" +
                                            std::to_string(c.n_layers) + ", " +
                                            std::to_string(c.d_model) + "]");
  } else {
    v = caches.derived(model, set_direction_key(r),
                       [&] { return set_direction(model, r, caches); });
  }
  if (!s.normalize) return v;
  const at::Tensor norm = v.norm(2, {1}, true);
  return at::where(norm > 0, v / norm, v);
}

}  // namespace csweep::analyses
