// The probe kind's cells (through run_cells, as the worker computes every kind): a label planted
// at a known layer of the GPT-2 fixture (layer 0's attention output zeroed, so the last position
// learns the first token only at layer 1) is read with accuracy 1 from layer 1 on and at chance
// before; and the streamed ridge statistics solve to the same probe as a dense least-squares
// problem built from every example at once.
#include <gtest/gtest.h>

#include <ATen/core/grad_mode.h>

#include <algorithm>
#include <cstdio>
#include <random>

#include "analyses/probe.h"
#include "analyses/sweep.h"
#include "common/error.h"
#include "tests/analyses/random_models.h"

namespace csweep::analyses::testing {
namespace {

using model::HookPoint;

GridAxis counting_axis(const std::string& name, int64_t n) {
  GridAxis a{name, {}, {}};
  for (int64_t i = 0; i < n; ++i) a.values.push_back(i);
  return a;
}

TEST(Probe, StreamedRidgeEqualsADenseLeastSquaresSolve) {
  at::manual_seed(3);
  const int64_t n = 50, d = 6, targets = 3;
  const auto f64 = at::TensorOptions().dtype(at::kDouble);
  // Two fits over different features (the second shifted and scaled: the bias must absorb it).
  const at::Tensor x0 = at::randn({n, d}, f64), x1 = 2.0 * at::randn({n, d}, f64) + 5.0;
  const at::Tensor y = at::randn({n, targets}, f64);
  RidgeStats stats(d, targets);
  for (int64_t i = 0; i < n; ++i) stats.add(at::stack({x0[i], x1[i]}), y[i]);
  const double l2 = 0.3;
  const at::Tensor w = stats.solve(l2);
  ASSERT_EQ(w.sizes(), (std::vector<int64_t>{2, d + 1, targets}));
  for (int fit = 0; fit < 2; ++fit) {
    const at::Tensor x = fit == 0 ? x0 : x1;
    // λ as documented: l2 · n · mean feature variance + 1e-9 · mean raw second moment.
    const double lambda = (l2 * static_cast<double>(n) * x.var(0, false).sum().item<double>() +
                           1e-9 * x.square().sum().item<double>()) /
                          static_cast<double>(d);
    // The penalised problem as one plain least-squares system: [X 1; √λ I 0] w ≈ [Y; 0].
    const at::Tensor a =
        at::cat({at::cat({x, at::ones({n, 1}, f64)}, 1),
                 at::cat({std::sqrt(lambda) * at::eye(d, f64), at::zeros({d, 1}, f64)}, 1)});
    const at::Tensor b = at::cat({y, at::zeros({d, targets}, f64)});
    const at::Tensor dense = std::get<0>(at::linalg_lstsq(a, b));
    EXPECT_LT((w[fit] - dense).abs().max().item<double>(), 1e-9) << "fit " << fit;
  }
}

TEST(Probe, SplitIsSeededAndCoversEveryPromptOnce) {
  const ProbeSplit a = probe_split(10, 0.3, 5), b = probe_split(10, 0.3, 5);
  EXPECT_EQ(a.held_out, b.held_out);
  EXPECT_EQ(a.shuffled, b.shuffled);
  EXPECT_EQ(a.held_out.size(), 3u);
  std::vector<int64_t> all = a.train;
  all.insert(all.end(), a.held_out.begin(), a.held_out.end());
  std::sort(all.begin(), all.end());
  EXPECT_EQ(all, (std::vector<int64_t>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}));
  std::vector<int64_t> train = a.train, shuffled = a.shuffled;
  std::sort(train.begin(), train.end());
  std::sort(shuffled.begin(), shuffled.end());
  EXPECT_EQ(train, shuffled);  // the control's labels are the training labels, permuted
  EXPECT_NE(probe_split(10, 0.3, 6).held_out, a.held_out);
}

// Prompts that differ in their first token (A: label 1, B: label 0) and a few middle tokens, and
// share their last token; with layer 0's attention writing nothing but its bias, the last
// position's residual stream before layer 1 is the same in every prompt.
SweepRequest planted_request(const model::Model& m, int64_t n) {
  SweepRequest r;
  r.kind = "probe";
  r.seed = 11;
  std::mt19937_64 rng(7);
  const int64_t V = m.config().d_vocab;
  for (int64_t i = 0; i < n; ++i) {
    const int64_t label = i % 2;
    std::vector<int64_t> tokens = {label ? 17 : 23};
    for (int k = 0; k < 5; ++k) tokens.push_back(100 + static_cast<int64_t>(rng() % 4));
    tokens.push_back(42 % V);
    r.probe.prompts.push_back(tokens);
    r.probe.labels.push_back(static_cast<double>(label));
  }
  r.probe.held_out = 0.25;
  r.probe.l2 = 1e-2;
  return r;
}

TEST(Probe, PlantedLabelIsReadFromItsLayerOnAndAtChanceBefore) {
  auto m = load_fixture_gpt2();
  {
    at::NoGradGuard no_grad;
    auto& l0 = m->mutable_weights().layers.at(0);
    l0.W_O.zero_();
  }
  const SweepRequest r = planted_request(*m, 80);
  const std::vector<GridAxis> axes = {
      {"site",
       {static_cast<int64_t>(HookPoint::ResidPre), static_cast<int64_t>(HookPoint::ResidPost)},
       {"hook_resid_pre", "hook_resid_post"}},
      counting_axis("layer", m->config().n_layers),
      {"token", {-1}, {"last"}},
      {"quantity", {0, 1}, {"score", "control"}}};
  CacheStore caches;
  const std::vector<float> v = run_cells(*m, r, axes, 0, grid_cells(axes), caches);
  const int64_t L = m->config().n_layers;
  auto at_cell = [&](int site, int64_t layer, int q) { return v[(site * L + layer) * 2 + q]; };
  // resid_pre of layers 0 and 1 (= resid_post of 0): the features do not vary, the probe guesses.
  for (int64_t layer : {0, 1}) EXPECT_LE(at_cell(0, layer, 0), 0.7f) << "resid_pre " << layer;
  EXPECT_LE(at_cell(1, 0, 0), 0.7f);
  for (int64_t layer = 1; layer < L; ++layer) {
    EXPECT_GE(at_cell(1, layer, 0), 0.95f) << "resid_post " << layer;
    EXPECT_LE(at_cell(1, layer, 1), 0.8f) << "control at resid_post " << layer;
  }
  for (int64_t layer = 0; layer < L; ++layer)
    std::printf(
        "[probe] layer %lld: resid_pre %.3f (control %.3f), resid_post %.3f (control %.3f)\n",
        static_cast<long long>(layer), at_cell(0, layer, 0), at_cell(0, layer, 1),
        at_cell(1, layer, 0), at_cell(1, layer, 1));

  // The cells of a sub-range are those of the whole grid.
  const std::vector<float> part = run_cells(*m, r, axes, 3, 7, caches);
  EXPECT_EQ(part, std::vector<float>(v.begin() + 3, v.begin() + 7));
}

TEST(Probe, FloatTargetsScoreRSquared) {
  auto m = load_fixture_gpt2();
  SweepRequest r = planted_request(*m, 40);
  r.probe.classes = false;
  for (size_t i = 0; i < r.probe.labels.size(); ++i)
    r.probe.labels[i] = 2.5 * r.probe.labels[i] - 1;
  const std::vector<GridAxis> axes = {
      {"site", {static_cast<int64_t>(HookPoint::ResidPost)}, {"hook_resid_post"}},
      counting_axis("layer", m->config().n_layers),
      {"token", {0}, {"0"}},
      {"quantity", {0, 1}, {"score", "control"}}};
  CacheStore caches;
  const std::vector<float> v = run_cells(*m, r, axes, 0, grid_cells(axes), caches);
  // The first token is the label itself: R² ≈ 1 at every layer; the control explains nothing.
  for (size_t i = 0; i < v.size(); i += 2) {
    EXPECT_GT(v[i], 0.99f) << "layer " << i / 2;
    EXPECT_LT(v[i + 1], 0.5f) << "control at layer " << i / 2;
  }
}

TEST(Probe, RefusesAGridItDoesNotKnowAndTooFewPrompts) {
  auto m = load_fixture_gpt2();
  SweepRequest r = planted_request(*m, 8);
  CacheStore caches;
  const std::vector<GridAxis> wrong = {counting_axis("layer", 1), {"quantity", {0}, {"score"}}};
  EXPECT_THROW(run_cells(*m, r, wrong, 0, 1, caches), Error);
  const std::vector<GridAxis> axes = {{"site", {static_cast<int64_t>(HookPoint::ResidPost)}, {}},
                                      counting_axis("layer", 1),
                                      {"token", {-1}, {}},
                                      {"quantity", {0}, {}}};
  r.probe.prompts.resize(1);
  r.probe.labels.resize(1);
  EXPECT_THROW(run_cells(*m, r, axes, 0, 1, caches), Error);
}

}  // namespace
}  // namespace csweep::analyses::testing
