// The steering kind's cells (through run_cells, as the worker computes every kind): scale 0 is
// the clean run bit for bit on every architecture; a direction built from the unembedding moves
// the logit difference it was built for, monotonically in the scale; the mean-difference
// direction equals the mean of activations cached here by a plain hooked forward, and the probe
// direction a dense ridge solve over them.
#include <gtest/gtest.h>

#include <ATen/core/grad_mode.h>

#include "analyses/steering.h"
#include "analyses/sweep.h"
#include "common/error.h"
#include "tests/analyses/grid_axes.h"
#include "tests/analyses/random_models.h"

namespace csweep::analyses::testing {
namespace {

using model::HookPoint;

// [layer, (pos,) scale, quantity] over every layer and the three quantities.
std::vector<GridAxis> grid(const model::Model& m, size_t n_scales,
                           const std::vector<int64_t>& positions = {}) {
  std::vector<GridAxis> axes{every_index("layer", m.config().n_layers)};
  if (!positions.empty()) axes.push_back({"pos", positions, {}});
  axes.push_back(every_index("scale", static_cast<int64_t>(n_scales)));
  axes.push_back({"quantity", {0, 1, 2}, {"metric", "kl", "top_token"}});
  return axes;
}

SweepRequest request(const model::Model& m, HookPoint point, std::vector<double> scales,
                     at::Tensor direction) {
  SweepRequest r = prompt_pair_request(m, "steering", point);
  r.steering.scales = std::move(scales);
  r.steering.direction = std::move(direction);
  return r;
}

std::vector<float> all_cells(const model::Model& m, const SweepRequest& r,
                             const std::vector<GridAxis>& axes, CacheStore& caches) {
  return run_cells(m, r, axes, 0, grid_cells(axes), caches);
}

void expect_scale_zero_is_clean(const model::Model& m, HookPoint point) {
  SCOPED_TRACE(model::point_suffix(point));
  const at::Tensor v = at::randn({m.config().d_model}, at::TensorOptions().dtype(at::kFloat));
  const SweepRequest r = request(m, point, {0.0, 3.0}, v);
  CacheStore caches(4);
  const auto axes = grid(m, 2);
  const std::vector<float> cells = all_cells(m, r, axes, caches);
  const auto clean = caches.get(m, "clean", r.clean_tokens, {});
  const float clean_metric = static_cast<float>(baselines(m, r, caches).clean);
  const float clean_top = static_cast<float>(clean->logits_last[0].argmax().item<int64_t>());
  bool moved = false;
  for (int64_t l = 0; l < m.config().n_layers; ++l) {
    const float* at_zero = &cells[static_cast<size_t>(l * 6)];
    EXPECT_EQ(at_zero[0], clean_metric) << "layer " << l;  // bit for bit
    EXPECT_EQ(at_zero[1], 0.0f) << "layer " << l;
    EXPECT_EQ(at_zero[2], clean_top) << "layer " << l;
    moved = moved || at_zero[3] != clean_metric;
    EXPECT_GT(at_zero[4], 0.0f) << "layer " << l;  // KL of a moved distribution
  }
  EXPECT_TRUE(moved);
  // A shard's range is the same slice of the grid.
  const std::vector<float> part = run_cells(m, r, axes, 2, grid_cells(axes) - 1, caches);
  EXPECT_EQ(part, std::vector<float>(cells.begin() + 2, cells.end() - 1));
}

TEST(Steering, ScaleZeroIsTheCleanRunBitForBit) {
  at::manual_seed(0);
  ASSERT_NE(find_kind_cells("steering"), nullptr);
  const auto gpt2 = load_fixture_gpt2();
  for (HookPoint p : {HookPoint::ResidPre, HookPoint::ResidMid, HookPoint::ResidPost})
    expect_scale_zero_is_clean(*gpt2, p);
  for (const auto& m : {random_llama(1), random_qwen3(2)})
    for (HookPoint p : {HookPoint::ResidPre, HookPoint::ResidMid, HookPoint::ResidPost})
      expect_scale_zero_is_clean(*m, p);
  const auto neox = random_neox(3);  // parallel residual: no hook_resid_mid
  for (HookPoint p : {HookPoint::ResidPre, HookPoint::ResidPost})
    expect_scale_zero_is_clean(*neox, p);
}

// Through ln_final, logit(a) - logit(w) = g·(x - mean x)/σ(x) + const with g = γ ∘ (W_U[a] -
// W_U[w]). Adding s·v with v = g - mean(g) at the last resid_post raises the cosine between v
// and the centred residual with s, so the logit difference rises monotonically in s.
TEST(Steering, UnembeddingDirectionMovesItsLogitDifferenceMonotonically) {
  const auto m = load_fixture_gpt2();
  const auto& w = m->weights();
  const int64_t answer = 613, wrong = 486, last = m->config().n_layers - 1;
  const at::Tensor g = w.ln_final_w.to(at::kFloat) * (w.W_U[answer] - w.W_U[wrong]).to(at::kFloat);
  const at::Tensor v = g - g.mean();
  const std::vector<double> scales = {-16, -8, -4, -2, -1, 0, 1, 2, 4, 8, 16};
  SweepRequest r = request(*m, HookPoint::ResidPost, scales, v);
  r.steering.normalize = true;
  CacheStore caches(4);
  const auto axes = grid(*m, scales.size());
  const std::vector<float> cells = all_cells(*m, r, axes, caches);
  const double clean = baselines(*m, r, caches).clean;
  const size_t row = static_cast<size_t>(last) * scales.size() * 3;
  for (size_t s = 1; s < scales.size(); ++s)
    EXPECT_GT(cells[row + 3 * s], cells[row + 3 * (s - 1)]) << "scale " << scales[s];
  EXPECT_EQ(cells[row + 3 * 5], static_cast<float>(clean));
  EXPECT_GT(cells.at(row + 3 * 10), clean + 1.0);
  EXPECT_LT(cells.at(row + 3 * 0), clean - 1.0);
  EXPECT_EQ(cells.at(row + 3 * 10 + 2), static_cast<float>(answer));  // pushed to the top

  // One position at a time: only the last one reaches the logits from the last block.
  const int64_t p = static_cast<int64_t>(kClean.size());
  const auto by_pos = grid(*m, scales.size(), {0, p - 1});
  const std::vector<float> pos_cells = all_cells(*m, r, by_pos, caches);
  const size_t pos_row = static_cast<size_t>(last) * 2 * scales.size() * 3;
  for (size_t s = 0; s < scales.size(); ++s) {
    EXPECT_EQ(pos_cells[pos_row + 3 * s], static_cast<float>(clean)) << "position 0";
    EXPECT_NEAR(pos_cells[pos_row + 3 * (scales.size() + s)], cells[row + 3 * s], 1e-4)
        << "last position, scale " << scales[s];
  }
}

TEST(Steering, MeanDifferenceIsTheMeanOfCachedActivations) {
  const auto m = load_fixture_gpt2();
  const std::vector<std::vector<int64_t>> plus = {kClean, {5, 9, 14, 300}, {7, 7, 8, 9, 10}};
  const std::vector<std::vector<int64_t>> minus = {kCorrupted, {5, 9, 15, 301}, {7, 6, 8, 9, 11}};
  for (HookPoint point : {HookPoint::ResidPre, HookPoint::ResidMid, HookPoint::ResidPost}) {
    SCOPED_TRACE(model::point_suffix(point));
    SweepRequest r = request(*m, point, {0.0, 2.0}, {});
    r.steering.plus = plus;
    r.steering.minus = minus;
    // Independently: one plain forward per prompt with every layer's activation cached.
    const int64_t L = m->config().n_layers;
    at::Tensor expected = at::zeros({L, m->config().d_model});
    for (int side = 0; side < 2; ++side)
      for (const auto& tokens : side == 0 ? plus : minus) {
        model::Hooks hooks;
        for (int64_t l = 0; l < L; ++l) hooks.cache({point, l});
        at::NoGradGuard no_grad;
        m->forward(at::tensor(tokens).view({1, -1}), &hooks);
        for (int64_t l = 0; l < L; ++l) {
          const at::Tensor last = hooks.cache().at({point, l})[0][-1].to(at::kFloat);
          expected[l] += (side == 0 ? 1.0 : -1.0) / 3.0 * last;
        }
      }
    CacheStore caches(16);
    const at::Tensor got = steering_directions(*m, r, caches);
    EXPECT_TRUE(at::allclose(got.cpu(), expected, 1e-5, 1e-5))
        << (got.cpu() - expected).abs().max();
    EXPECT_GT(expected.norm().item<double>(), 0.1);
    // Computed once per store: the cells add at most the clean run, and nothing the second time.
    const int64_t forwards = caches.forwards();
    all_cells(*m, r, grid(*m, 2), caches);
    const int64_t with_cells = caches.forwards();
    EXPECT_LE(with_cells, forwards + 1);
    all_cells(*m, r, grid(*m, 2), caches);
    EXPECT_EQ(caches.forwards(), with_cells);
    r.steering.normalize = true;
    const at::Tensor unit = steering_directions(*m, r, caches).cpu();
    for (int64_t l = 0; l < L; ++l) {
      const double n = expected[l].norm().item<double>();
      if (n == 0.0) continue;  // the last token's embedding is the same in both sets
      EXPECT_NEAR(unit[l].norm().item<double>(), 1.0, 1e-5);
      EXPECT_TRUE(at::allclose(unit[l] * n, expected[l], 1e-4, 1e-5));
    }
  }
}

// With steering.probe_l2, the direction at each layer is the weight of a ridge probe telling plus
// (1) from minus (0) at the last position: here against the penalised least-squares problem solved
// densely from activations cached by a plain hooked forward per prompt.
TEST(Steering, ProbeDirectionIsADenseRidgeFitOfTheTwoSets) {
  const auto m = load_fixture_gpt2();
  std::vector<std::vector<int64_t>> plus, minus;
  for (int64_t i = 0; i < 6; ++i) {
    plus.push_back({17, 40 + i, 90 + 2 * i, 339});
    minus.push_back({23, 41 + i, 91 + 2 * i, 339});
  }
  SweepRequest r = request(*m, HookPoint::ResidPost, {0.0, 1.0}, {});
  r.steering.plus = plus;
  r.steering.minus = minus;
  r.steering.probe_l2 = 0.1;
  const int64_t L = m->config().n_layers, d = m->config().d_model;
  const auto f64 = at::TensorOptions().dtype(at::kDouble);
  std::vector<at::Tensor> rows;  // per prompt: [L, d]
  for (const auto* set : {&plus, &minus})
    for (const auto& tokens : *set) {
      model::Hooks hooks;
      for (int64_t l = 0; l < L; ++l) hooks.cache({HookPoint::ResidPost, l});
      at::NoGradGuard no_grad;
      m->forward(at::tensor(tokens).view({1, -1}), &hooks);
      std::vector<at::Tensor> layers;
      for (int64_t l = 0; l < L; ++l)
        layers.push_back(hooks.cache().at({HookPoint::ResidPost, l})[0][-1].to(at::kDouble));
      rows.push_back(at::stack(layers));
    }
  const at::Tensor x_all = at::stack(rows);  // [n, L, d]
  const int64_t n = x_all.size(0);
  const at::Tensor y = at::cat({at::ones({6, 1}, f64), at::zeros({6, 1}, f64)});
  CacheStore caches(16);
  const at::Tensor got = steering_directions(*m, r, caches).cpu().to(at::kDouble);
  for (int64_t l = 0; l < L; ++l) {
    const at::Tensor x = x_all.select(1, l);
    const double lambda = (0.1 * static_cast<double>(n) * x.var(0, false).sum().item<double>() +
                           1e-9 * x.square().sum().item<double>()) /
                          static_cast<double>(d);
    const at::Tensor a =
        at::cat({at::cat({x, at::ones({n, 1}, f64)}, 1),
                 at::cat({std::sqrt(lambda) * at::eye(d, f64), at::zeros({d, 1}, f64)}, 1)});
    const at::Tensor w = std::get<0>(at::linalg_lstsq(a, at::cat({y, at::zeros({d, 1}, f64)})));
    const at::Tensor expected = w.narrow(0, 0, d).squeeze(1);
    EXPECT_LT((got[l] - expected).abs().max().item<double>(),
              1e-5 * expected.abs().max().item<double>() + 1e-7)
        << "layer " << l;
    // The probe separates the sets it was fitted on: every plus prompt scores above every minus.
    const at::Tensor score = at::mv(x, got[l]);
    EXPECT_GT(score.narrow(0, 0, 6).min().item<double>(),
              score.narrow(0, 6, 6).max().item<double>())
        << "layer " << l;
  }
}

TEST(Steering, RefusesWrongShapesAndSites) {
  const auto m = load_fixture_gpt2();
  CacheStore caches(2);
  const SweepRequest wrong_d = request(*m, HookPoint::ResidPost, {1.0}, at::ones({5}));
  try {
    all_cells(*m, wrong_d, grid(*m, 1), caches);
    ADD_FAILURE() << "a [5] direction was used on d_model 64";
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()),
              "analysis: steering.direction: shape [5] is neither [d_model] nor [n_layers, "
              "d_model] = [3, 64]");
  }
  const SweepRequest at_z = request(*m, HookPoint::AttnZ, {1.0}, at::ones({64}));
  EXPECT_THROW(all_cells(*m, at_z, grid(*m, 1), caches), Error);
  // A parallel-residual block has no hook_resid_mid: refused, not silently unsteered.
  const auto neox = random_neox(3);
  const SweepRequest mid =
      request(*neox, HookPoint::ResidMid, {1.0}, at::ones({neox->config().d_model}));
  try {
    all_cells(*neox, mid, grid(*neox, 1), caches);
    ADD_FAILURE() << "hook_resid_mid was steered on a parallel-residual model";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("analysis: steering.site: hook_resid_mid does not exist"),
              std::string::npos)
        << e.what();
  }
}

}  // namespace
}  // namespace csweep::analyses::testing
