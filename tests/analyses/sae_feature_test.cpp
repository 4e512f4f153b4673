// The SAE feature kinds' cells against a plain reference written here the way SAELens's
// error-term hook does it (one full forward per cell: encode, edit one feature, decode, add
// x - sae(x)), on the GPT-2 fixture with the example's SAE (examples/models/induction-2l-sae,
// a random SAE SAELens saved at blocks.1.hook_resid_pre). An unchanged feature is the original
// model bit for bit; without the error term it would not be.
#include <gtest/gtest.h>

#include <ATen/core/grad_mode.h>

#include "analyses/sweep.h"
#include "model/sae.h"
#include "model/sae_activation_bins.h"
#include "tests/analyses/grid_axes.h"
#include "tests/analyses/random_models.h"
#include "tests/test_paths.h"

namespace csweep::analyses::testing {
namespace {

std::string sae_folder() {
  return csweep::testing::source_path("examples/models/induction-2l-sae").string();
}
// A jumprelu SAE with layer_norm at blocks.1.attn.hook_z (4 heads of 16 flattened).
std::string hook_z_folder() {
  return csweep::testing::source_path("tests/model/fixtures/sae/gpt2_tiny_hook_z").string();
}

SweepRequest request(const std::string& kind, const std::vector<int64_t>& corrupted = kCorrupted,
                     const std::string& folder = sae_folder()) {
  SweepRequest r;
  r.kind = kind;
  r.clean_tokens = kClean;
  r.corrupted_tokens = corrupted;
  r.answers = {{613, 486}};
  r.sae = folder;
  return r;
}

std::vector<GridAxis> grid(const std::vector<int64_t>& features, int64_t seq) {
  GridAxis pos{"pos", {}, {}};
  for (int64_t p = 0; p < seq; ++p) pos.values.push_back(p);
  return {{"feature", features, {}}, pos};
}

// The metric of one full forward whose site activation x becomes, at `pos`,
// sae.decode(acts') + (x - sae.decode(acts)) with acts'[feature] = value (SAELens's
// use_error_term); keep_error false drops the error term (x -> sae.decode(acts) everywhere).
float reference_cell(const model::Model& m, const model::Sae& sae, const SweepRequest& r,
                     const std::vector<int64_t>& tokens, int64_t feature, int64_t pos,
                     const at::Tensor& value, bool keep_error = true) {
  model::Hooks hooks;
  hooks.add(sae.config.site, [&](at::Tensor& act, const model::HookSite&) {
    const model::SaeNorm norm = sae.norm_of(act);
    const at::Tensor acts = sae.encode(act, norm);
    at::Tensor edited = acts.clone();
    if (value.defined()) edited[0][pos][feature] = value;
    const int64_t heads = act.dim() == 4 ? act.size(2) : 0;
    const at::Tensor error = act - sae.decode(acts, norm, heads);
    act = keep_error ? sae.decode(edited, norm, heads) + error : sae.decode(edited, norm, heads);
  });
  const at::Tensor ids = at::tensor(tokens, at::kLong).unsqueeze(0);
  const at::Tensor logits = m.forward(ids, &hooks);
  const Metric metric(r.metric, r.answers, at::Tensor());
  return metric(logits.select(1, -1))[0].item<float>();
}

// The metric of one full forward with no hook: what a plain row equals when its edit writes the
// activation it found (the plain path runs the same full forward).
float unedited(const model::Model& m, const SweepRequest& r, const std::vector<int64_t>& tokens) {
  const at::Tensor logits = m.forward(at::tensor(tokens, at::kLong).unsqueeze(0));
  return Metric(r.metric, r.answers, at::Tensor())(logits.select(1, -1))[0].item<float>();
}

class SaeFeatureCells : public ::testing::Test {
 protected:
  void SetUp() override {
    at::NoGradGuard no_grad;
    m = load_fixture_gpt2();
    sae = model::load_sae(sae_folder());
  }
  std::shared_ptr<model::Model> m;
  model::Sae sae;
  CacheStore caches{8};
};

TEST_F(SaeFeatureCells, AblationEqualsOneForwardPerCellWithTheErrorTerm) {
  at::NoGradGuard no_grad;
  const SweepRequest r = request("sae_feature_ablation");
  const std::vector<int64_t> features = {0, 3, 17, 64, 127};
  const auto axes = grid(features, 8);
  const auto cells = run_cells(*m, r, axes, 0, grid_cells(axes), caches);
  const auto plain_r = [&] {
    SweepRequest p = r;
    p.batch.plain = true;
    return p;
  }();
  const auto plain = run_cells(*m, plain_r, axes, 0, grid_cells(axes), caches);
  const float clean = static_cast<float>(baselines(*m, r, caches).clean);
  const float original = unedited(*m, r, kClean);
  double max_diff = 0;
  int unchanged = 0, changed = 0;
  for (size_t fi = 0; fi < features.size(); ++fi)
    for (int64_t p = 0; p < 8; ++p) {
      const size_t i = fi * 8 + static_cast<size_t>(p);
      const float ref =
          reference_cell(*m, sae, r, kClean, features[fi], p, at::zeros({}, at::kFloat));
      max_diff = std::max(max_diff, static_cast<double>(std::abs(cells[i] - ref)));
      EXPECT_NEAR(plain[i], ref, 1e-4);
      // A feature that does not fire there: nothing changes, the original model bit for bit.
      const auto x = caches.get(*m, "clean", kClean, {sae.config.site})->at_site(sae.config.site);
      if (sae.encode(x)[0][p][features[fi]].item<float>() == 0.0f) {
        ++unchanged;
        EXPECT_EQ(plain[i], original) << "feature " << features[fi] << " pos " << p;
        EXPECT_NEAR(cells[i], clean, 1e-5);
      } else {
        ++changed;
      }
    }
  EXPECT_LE(max_diff, 1e-4);
  EXPECT_GT(unchanged, 0);
  EXPECT_GT(changed, 0);
  std::printf("sae_feature_ablation: %zu cells, max |cells - reference| %.3g\n", cells.size(),
              max_diff);
  // The random SAE reconstructs badly: without the error term the model would be another one.
  EXPECT_GT(std::abs(reference_cell(*m, sae, r, kClean, 0, 0, at::Tensor(), false) - clean), 0.05);
}

TEST_F(SaeFeatureCells, PatchingCopiesTheSourceRunsFeatureInBothDirections) {
  at::NoGradGuard no_grad;
  const std::vector<int64_t> features = {1, 5, 99};
  const auto axes = grid(features, 8);
  const auto site = sae.config.site;
  const at::Tensor clean_acts = sae.encode(caches.get(*m, "clean", kClean, {site})->at_site(site));
  const at::Tensor corrupted_acts =
      sae.encode(caches.get(*m, "clean", kCorrupted, {site})->at_site(site));
  for (Direction d : {Direction::Denoising, Direction::Noising}) {
    SweepRequest r = request("sae_feature_patching");
    r.direction = d;
    const bool denoise = d == Direction::Denoising;
    const auto cells = run_cells(*m, r, axes, 0, grid_cells(axes), caches);
    for (size_t fi = 0; fi < features.size(); ++fi)
      for (int64_t p = 0; p < 8; ++p) {
        const at::Tensor source = (denoise ? clean_acts : corrupted_acts)[0][p][features[fi]];
        const float ref =
            reference_cell(*m, sae, r, denoise ? kCorrupted : kClean, features[fi], p, source);
        EXPECT_NEAR(cells[fi * 8 + static_cast<size_t>(p)], ref, 1e-4);
      }
  }
  // Patching from an identical prompt changes nothing: every cell is the clean run.
  const SweepRequest same = request("sae_feature_patching", kClean);
  const float original = unedited(*m, same, kClean);
  SweepRequest plain = same;
  plain.batch.plain = true;
  for (float v : run_cells(*m, plain, axes, 0, grid_cells(axes), caches)) EXPECT_EQ(v, original);
  // A shard is the same slice of the grid (up to the batched GEMMs' summation order).
  const SweepRequest r = request("sae_feature_patching");
  const auto all = run_cells(*m, r, axes, 0, grid_cells(axes), caches);
  const auto part = run_cells(*m, r, axes, 5, 17, caches);
  for (size_t i = 0; i < part.size(); ++i) EXPECT_NEAR(part[i], all[5 + i], 1e-5);
}

// A per-head (hook_z) SAE with run-time layer_norm: the cells still equal the SAELens form.
TEST_F(SaeFeatureCells, HookZLayerNormJumpReluEqualsOneForwardPerCell) {
  at::NoGradGuard no_grad;
  const model::Sae z = model::load_sae(hook_z_folder());
  const std::vector<int64_t> features = {2, 31, 95};
  const auto axes = grid(features, 8);
  const auto site = z.config.site;
  const at::Tensor clean_acts = z.encode(caches.get(*m, "clean", kClean, {site})->at_site(site));
  const SweepRequest r = request("sae_feature_patching", kCorrupted, hook_z_folder());
  const auto cells = run_cells(*m, r, axes, 0, grid_cells(axes), caches);
  int fired = 0;
  for (size_t fi = 0; fi < features.size(); ++fi)
    for (int64_t p = 0; p < 8; ++p) {
      const at::Tensor source = clean_acts[0][p][features[fi]];
      fired += source.item<float>() > 0;
      EXPECT_NEAR(cells[fi * 8 + static_cast<size_t>(p)],
                  reference_cell(*m, z, r, kCorrupted, features[fi], p, source), 1e-4);
    }
  EXPECT_GT(fired, 0);
}

// Attribution in feature space against autograd through SAELens's decode: a leaf A holding the
// target run's feature activations enters the hook as decode(A) - decode(A.detach()), so
// dMetric/dA is the gradient through the SAE's own decoder (normalisation included).
TEST_F(SaeFeatureCells, AttributionIsTheGradientThroughTheDecoderTimesTheChange) {
  const std::vector<int64_t> features = {0, 5, 64, 99, 127};
  const auto axes = grid(features, 8);
  const SweepRequest r = request("sae_feature_attribution");
  const auto cells = run_cells(*m, r, axes, 0, grid_cells(axes), caches);
  const auto site = sae.config.site;
  at::Tensor clean_acts, target_x;
  {
    at::NoGradGuard no_grad;
    clean_acts = sae.encode(caches.get(*m, "clean", kClean, {site})->at_site(site));
    target_x = caches.get(*m, "clean", kCorrupted, {site})->at_site(site);
  }
  const model::SaeNorm norm = sae.norm_of(target_x);
  const at::Tensor A = sae.encode(target_x, norm).detach().requires_grad_();
  model::Hooks hooks;
  hooks.add(site, [&](at::Tensor& act, const model::HookSite&) {
    act = act + (sae.decode(A, norm) - sae.decode(A.detach(), norm));
  });
  const at::Tensor logits = m->forward(at::tensor(kCorrupted, at::kLong).unsqueeze(0), &hooks);
  const Metric metric(r.metric, r.answers, at::Tensor());
  const at::Tensor value = metric.differentiable(logits.select(1, -1).unsqueeze(1)).sum();
  value.backward();
  const at::Tensor estimate = (clean_acts - A.detach()) * A.grad();
  // The patched runs themselves: the estimate is first order, so it tracks them only roughly.
  SweepRequest patching = request("sae_feature_patching");
  const auto patched = run_cells(*m, patching, axes, 0, grid_cells(axes), caches);
  double max_diff = 0, max_from_patched = 0;
  for (size_t fi = 0; fi < features.size(); ++fi)
    for (int64_t p = 0; p < 8; ++p) {
      const size_t i = fi * 8 + static_cast<size_t>(p);
      const double ref = value.item<double>() + estimate[0][p][features[fi]].item<double>();
      max_diff = std::max(max_diff, std::abs(cells[i] - ref));
      max_from_patched =
          std::max(max_from_patched, static_cast<double>(std::abs(cells[i] - patched[i])));
    }
  EXPECT_LE(max_diff, 1e-4);
  EXPECT_LE(max_from_patched, 0.1);
  std::printf(
      "sae_feature_attribution: max |cells - autograd reference| %.3g, max |estimate - "
      "patched| %.3g\n",
      max_diff, max_from_patched);
}

TEST_F(SaeFeatureCells, FeatureDeltaIsTheDecodeDifference) {
  at::NoGradGuard no_grad;
  const at::Tensor x = at::randn({6, 64});
  const model::SaeNorm norm = sae.norm_of(x);
  const at::Tensor acts = sae.encode(x, norm);
  at::Tensor edited = acts.clone();
  edited.select(1, 7).fill_(2.5);
  const at::Tensor expected = sae.decode(edited, norm) - sae.decode(acts, norm);
  const at::Tensor got = sae.feature_delta(7, edited.select(1, 7) - acts.select(1, 7), norm);
  EXPECT_LE((got - expected).abs().max().item<float>(), 1e-5);
}

// The feature search's cells per context: for each feature its max activation, the first position
// of the max, the tokens it fires on and their histogram, against a plain loop over the SAE's
// encode of a full forward's cached site (both SAEs: resid_pre ReLU and hook_z jumprelu with
// layer_norm), and a shard's cells equal the same cells of the whole grid.
TEST_F(SaeFeatureCells, FeatureSearchSummarisesTheContextsActivations) {
  at::NoGradGuard no_grad;
  const int n_q = 3 + model::sae_bins::kBins;
  GridAxis quantity{"quantity", {}, {}};
  for (int q = 0; q < n_q; ++q) quantity.values.push_back(q);
  for (const std::string& folder : {sae_folder(), hook_z_folder()}) {
    const model::Sae s = model::load_sae(folder);
    const std::vector<int64_t> features = {0, 3, 17, 64, 95};  // the hook_z SAE has 96
    const std::vector<GridAxis> axes = {{"feature", features, {}}, quantity};
    SweepRequest r = request("sae_feature_search", kClean, folder);
    r.answers.clear();
    const auto cells = run_cells(*m, r, axes, 0, grid_cells(axes), caches);
    ASSERT_EQ(cells.size(), features.size() * n_q);
    const auto x = caches.get(*m, "clean", kClean, {s.config.site})->at_site(s.config.site);
    const at::Tensor acts = s.encode(x)[0].to(at::kFloat);
    int64_t fired = 0;
    for (size_t fi = 0; fi < features.size(); ++fi) {
      std::vector<double> want(n_q, 0.0);
      double max = -1e30;
      for (int64_t p = 0; p < acts.size(0); ++p) {
        const double v = acts[p][features[fi]].item<float>();
        if (v > max) max = v, want[1] = static_cast<double>(p);
        if (v <= 0) continue;
        want[2] += 1;
        want[3 + static_cast<size_t>(model::sae_bins::bin_of(v))] += 1;
      }
      want[0] = max;
      fired += static_cast<int64_t>(want[2]);
      for (int q = 0; q < n_q; ++q)
        EXPECT_NEAR(cells[fi * n_q + static_cast<size_t>(q)], want[static_cast<size_t>(q)],
                    q == 0 ? 1e-5 : 0.0)
            << folder << " feature " << features[fi] << " quantity " << q;
    }
    EXPECT_GT(fired, 0) << folder;
    const auto part = run_cells(*m, r, axes, 7, 40, caches);
    EXPECT_EQ(part, std::vector<float>(cells.begin() + 7, cells.begin() + 40));
  }
}

}  // namespace
}  // namespace csweep::analyses::testing
