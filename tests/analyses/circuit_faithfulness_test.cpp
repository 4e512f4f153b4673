// The circuit_faithfulness kind's cells (batched, and the plain path) against a reference written
// here: per size, one full forward of the clean prompt whose hooks overwrite every head slice (and
// MLP output) outside the first n ranked nodes with the corrupted run's, the mean over the
// reference prompts' positions, or zeros. On the GPT-2 fixture and the random architectures.
// Identities: the empty circuit with every head and MLP patched and the full model (the clean
// run); a size past the ranked list keeps only the list.
#include <gtest/gtest.h>

#include <ATen/core/grad_mode.h>

#include <algorithm>
#include <cstdio>

#include "analyses/sweep.h"
#include "tests/analyses/grid_axes.h"
#include "tests/analyses/random_models.h"

namespace csweep::analyses::testing {
namespace {

using model::HookPoint;
using model::HookSite;
using Node = SweepRequest::CircuitNode;
using Ablation = SweepRequest::CircuitAblation;

// The value an ablated slice takes at `site`, shaped as the activation [1, p, ...].
at::Tensor ablated_value(const SweepRequest& r, const model::Model& m, const HookSite& site,
                         const at::Tensor& clean_act) {
  if (r.circuit.ablation == Ablation::Zero) return at::zeros_like(clean_act);
  if (r.circuit.ablation == Ablation::Patch) return outputs(m, r.corrupted_tokens).at(site);
  std::vector<at::Tensor> acts;  // mean: over the references' prompts and positions
  for (const auto& ids : r.reference_prompts) acts.push_back(outputs(m, ids).at(site));
  return at::cat(acts, 0).mean(at::IntArrayRef{0, 1}, true).expand_as(clean_act).contiguous();
}

float reference_cell(const model::Model& m, const SweepRequest& r, int64_t n) {
  const auto& c = m.config();
  const auto clean = outputs(m, r.clean_tokens);
  const int64_t universe = c.n_layers * (c.n_heads + (r.circuit.mlps ? 1 : 0));
  model::Hooks hooks;
  const int64_t seq = static_cast<int64_t>(r.clean_tokens.size());
  const int64_t kept = std::min<int64_t>(n, static_cast<int64_t>(r.circuit.ranked.size()));
  for (int64_t l = 0; l < c.n_layers && n < universe; ++l) {
    for (int64_t h = -1; h < c.n_heads; ++h) {
      if (h < 0 && !r.circuit.mlps) continue;
      const HookSite site{h < 0 ? HookPoint::MlpOut : HookPoint::AttnZ, l};
      std::vector<int64_t> keep_positions;
      bool whole = false;
      for (int64_t i = 0; i < kept; ++i) {
        const Node& x = r.circuit.ranked[static_cast<size_t>(i)];
        if (x.point != site.point || x.layer != l || x.head != h) continue;
        if (x.pos < 0) whole = true;
        keep_positions.push_back(x.pos);
      }
      if (whole) continue;
      model::Slice slice;
      if (h >= 0) slice.heads = {h};
      for (int64_t p = 0; p < seq && !keep_positions.empty(); ++p)
        if (std::find(keep_positions.begin(), keep_positions.end(), p) == keep_positions.end())
          slice.positions.push_back(p);
      hooks.add(site, model::replace_with(ablated_value(r, m, site, clean.at(site)), slice));
    }
  }
  return logit_diff(m.forward(tokens_of(r.clean_tokens), &hooks), r);
}

SweepRequest request(const model::Model& m, Ablation ablation, bool mlps) {
  SweepRequest r = prompt_pair_request(m, "circuit_faithfulness", HookPoint::AttnZ);
  const auto& c = m.config();
  r.circuit.ablation = ablation;
  r.circuit.mlps = mlps;
  r.circuit.ranked = {{HookPoint::AttnZ, c.n_layers - 1, 0, -1},
                      {HookPoint::AttnZ, 0, c.n_heads - 1, -1},
                      {HookPoint::AttnZ, 1, 1, 2},
                      {HookPoint::AttnZ, 1, 1, 5}};
  if (mlps)
    r.circuit.ranked.insert(r.circuit.ranked.begin() + 1, Node{HookPoint::MlpOut, 0, -1, -1});
  r.reference_prompts = {r.clean_tokens, r.corrupted_tokens};
  return r;
}

void expect_matches_reference(const model::Model& m, const SweepRequest& r, const char* what) {
  SCOPED_TRACE(what);
  at::NoGradGuard no_grad;
  const auto& c = m.config();
  const int64_t universe = c.n_layers * (c.n_heads + (r.circuit.mlps ? 1 : 0));
  const int64_t listed = static_cast<int64_t>(r.circuit.ranked.size());
  const std::vector<GridAxis> axes{{"size", {0, 1, 2, 3, listed, universe}, {}}};
  CacheStore caches(8);
  const std::vector<float> fast = run_cells(m, r, axes, 0, grid_cells(axes), caches);
  const std::vector<float> slow = run_cells_plain(m, r, axes, 0, grid_cells(axes), caches);
  ASSERT_EQ(fast.size(), axes[0].values.size());
  float max_diff = 0.0f, spread = 0.0f;
  for (size_t i = 0; i < fast.size(); ++i) {
    const float want = reference_cell(m, r, axes[0].values[i]);
    const float tol = 1e-5f * std::max(1.0f, std::abs(want));
    EXPECT_NEAR(fast[i], want, tol) << "size " << axes[0].values[i];
    EXPECT_NEAR(slow[i], want, tol) << "size " << axes[0].values[i];
    max_diff = std::max({max_diff, std::abs(fast[i] - want), std::abs(slow[i] - want)});
    spread = std::max(spread, std::abs(fast[i] - fast.back()));
  }
  std::printf("[ circuit faithfulness ] %s: max |cell - reference| %.3g over %zu sizes\n", what,
              static_cast<double>(max_diff), fast.size());
  EXPECT_GT(spread, 1e-3f);  // the circuits differ from the full model
  // The full model is the clean run; a shard's range is the same slice of the grid.
  EXPECT_FLOAT_EQ(fast.back(), reference_cell(m, r, universe));
  const std::vector<float> part = run_cells(m, r, axes, 1, grid_cells(axes) - 1, caches);
  for (size_t i = 0; i < part.size(); ++i) EXPECT_NEAR(part[i], fast[i + 1], 1e-5);
}

void expect_every_ablation_matches(const model::Model& m) {
  expect_matches_reference(m, request(m, Ablation::Patch, true), "patch, heads and MLPs");
  expect_matches_reference(m, request(m, Ablation::Mean, false), "mean, heads");
  expect_matches_reference(m, request(m, Ablation::Zero, true), "zero, heads and MLPs");
}

TEST(CircuitFaithfulness, CellsMatchOneForwardPerSizeOnTheFixture) {
  expect_every_ablation_matches(*load_fixture_gpt2());
}

TEST(CircuitFaithfulness, CellsMatchOneForwardPerSizeOnRandomArchitectures) {
  expect_every_ablation_matches(*random_neox(3));
  expect_every_ablation_matches(*random_llama(4));
  expect_every_ablation_matches(*random_qwen3(5));
}

TEST(CircuitFaithfulness, BadRequestsAreOneLineErrorsNamingTheField) {
  const auto m = random_llama(4);
  CacheStore caches(4);
  const std::vector<GridAxis> axes{{"size", {0, 1}, {}}};
  auto message = [&](const SweepRequest& r) { return cells_error(*m, r, axes, caches); };
  SweepRequest r = request(*m, Ablation::Patch, false);
  r.circuit.ranked.push_back({HookPoint::MlpOut, 0, -1, -1});
  EXPECT_NE(message(r).find("circuit_faithfulness.ranked[4]: an MLP node needs"), std::string::npos)
      << message(r);
  r = request(*m, Ablation::Patch, false);
  r.circuit.ranked.push_back(r.circuit.ranked.front());
  EXPECT_NE(message(r).find("ranked[4]: listed twice"), std::string::npos) << message(r);
  r = request(*m, Ablation::Patch, false);
  r.corrupted_tokens.pop_back();
  EXPECT_NE(message(r).find("circuit_faithfulness.prompts: patch ablation needs"),
            std::string::npos)
      << message(r);
}

}  // namespace
}  // namespace csweep::analyses::testing
