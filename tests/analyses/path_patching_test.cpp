// The path_patching kind's cells (batched, and the plain path) against a reference written here:
// per path, run 2 as one full forward of the clean prompt whose hooks freeze every hook_z (and,
// with freeze_mlps, every hook_mlp_out) at the clean run and put the sender's corrupted slice
// in, caching the receivers' inputs; run 3 as one full forward of the clean prompt with those
// inputs replaced. On the GPT-2 fixture and every random architecture (GQA: k/v receivers are
// KV heads). Identities: from a last-layer head to the logits, path patching is activation
// patching of its hook_z (noising): nothing but the unembedding reads it; a sender at or after
// every receiver's layer leaves the clean metric.
#include <gtest/gtest.h>

#include <ATen/core/grad_mode.h>

#include <algorithm>
#include <chrono>
#include <cstdio>

#include "analyses/sweep.h"
#include "tests/analyses/grid_axes.h"
#include "tests/analyses/random_models.h"

namespace csweep::analyses::testing {
namespace {

using model::HookPoint;
using model::HookSite;
using Receiver = SweepRequest::PathReceiver;

SweepRequest request(const model::Model& m, HookPoint senders, std::vector<Receiver> receivers) {
  SweepRequest r = prompt_pair_request(m, "path_patching", senders);
  r.path.receivers = std::move(receivers);
  return r;
}

// [layer, (pos,) (head)] over every layer and head.
std::vector<GridAxis> grid(const model::Model& m, HookPoint senders,
                           const std::vector<int64_t>& positions = {}) {
  std::vector<GridAxis> axes{every_index("layer", m.config().n_layers)};
  if (!positions.empty()) axes.push_back({"pos", positions, {}});
  if (senders == HookPoint::AttnZ) axes.push_back(every_index("head", m.config().n_heads));
  return axes;
}

// One path, one sender (layer, pos or -1, head or -1), by plain forwards.
using Outputs = std::map<HookSite, at::Tensor>;
float reference_cell(const model::Model& m, const SweepRequest& r, const Outputs& clean,
                     const Outputs& corrupted, int64_t layer, int64_t pos, int64_t head) {
  model::Hooks run2;
  for (const auto& [site, clean_act] : clean) {
    const bool sender = site.point == r.point && site.layer == layer;
    const bool frozen = site.point == HookPoint::AttnZ || r.path.freeze_mlps;
    if (frozen) run2.add(site, model::replace_with(clean_act, {}));
    model::Slice slice;
    if (pos >= 0) slice.positions = {pos};
    if (head >= 0) slice.heads = {head};
    if (sender) run2.add(site, model::replace_with(corrupted.at(site), slice));
  }
  for (const Receiver& x : r.path.receivers) run2.cache({x.input, x.layer});
  const at::Tensor logits2 = m.forward(tokens_of(r.clean_tokens), &run2);
  if (r.path.receivers.empty()) return logit_diff(logits2, r);
  model::Hooks run3;
  const int64_t last = static_cast<int64_t>(r.clean_tokens.size()) - 1;
  for (const Receiver& x : r.path.receivers)
    run3.add({x.input, x.layer},
             model::replace_with(
                 run2.cache().at({x.input, x.layer}),
                 {{},
                  r.path.last_position ? std::vector<int64_t>{last} : std::vector<int64_t>{},
                  {x.head}}));
  return logit_diff(m.forward(tokens_of(r.clean_tokens), &run3), r);
}

void expect_matches_reference(const model::Model& m, const SweepRequest& r,
                              const std::vector<GridAxis>& axes, const char* what) {
  SCOPED_TRACE(what);
  at::NoGradGuard no_grad;
  CacheStore caches(8);
  run_cells(m, r, axes, 0, 1, caches);  // the clean and corrupted caches, outside the timing
  const auto t0 = std::chrono::steady_clock::now();
  const std::vector<float> fast = run_cells(m, r, axes, 0, grid_cells(axes), caches);
  const auto t1 = std::chrono::steady_clock::now();
  SweepRequest plain = r;
  plain.batch.plain = true;
  const std::vector<float> slow = run_cells(m, plain, axes, 0, grid_cells(axes), caches);
  const auto t2 = std::chrono::steady_clock::now();
  const bool by_pos = axes.size() > 1 && axes[1].name == "pos";
  const bool heads = axes.back().name == "head";
  const int64_t n_pos = by_pos ? axes[1].size() : 1, n_heads = heads ? axes.back().size() : 1;
  ASSERT_EQ(fast.size(), static_cast<size_t>(axes[0].size() * n_pos * n_heads));
  const Outputs clean = outputs(m, r.clean_tokens), corrupted = outputs(m, r.corrupted_tokens);
  float spread = 0.0f, max_diff = 0.0f;
  for (int64_t l = 0; l < axes[0].size(); ++l)
    for (int64_t p = 0; p < n_pos; ++p)
      for (int64_t h = 0; h < n_heads; ++h) {
        const size_t i = static_cast<size_t>((l * n_pos + p) * n_heads + h);
        const float want =
            reference_cell(m, r, clean, corrupted, axes[0].values[l],
                           by_pos ? axes[1].values[p] : -1, heads ? axes.back().values[h] : -1);
        // fp32 through different batch shapes: 1e-5 relative to the logit difference's size.
        const float tol = 1e-5f * std::max(1.0f, std::abs(want));
        EXPECT_NEAR(fast[i], want, tol) << "layer " << l << " pos " << p << " head " << h;
        EXPECT_NEAR(slow[i], want, tol) << "layer " << l << " pos " << p << " head " << h;
        max_diff = std::max({max_diff, std::abs(fast[i] - want), std::abs(slow[i] - want)});
        spread = std::max(spread, std::abs(fast[i] - fast[0]));
      }
  const auto ms = [](auto d) { return std::chrono::duration<double, std::milli>(d).count(); };
  std::printf(
      "[ path patching ] %s: max |cell - reference| %.3g over %zu cells; batched %.1f ms, "
      "plain %.1f ms\n",
      what, static_cast<double>(max_diff), fast.size(), ms(t1 - t0), ms(t2 - t1));
  EXPECT_GT(spread, 1e-3f);  // the senders differ: the cells are not all the clean run
  // A shard's range is the same slice of the grid.
  const std::vector<float> part = run_cells(m, r, axes, 1, grid_cells(axes) - 1, caches);
  for (size_t i = 0; i < part.size(); ++i) EXPECT_NEAR(part[i], fast[i + 1], 1e-5);
}

void expect_every_path_matches(const model::Model& m) {
  const int64_t kv = m.config().n_kv_heads;
  const std::vector<Receiver> heads = {{HookPoint::AttnQ, 2, 1},
                                       {HookPoint::AttnK, 2, kv - 1},
                                       {HookPoint::AttnV, 1, 0},
                                       {HookPoint::AttnQ, 1, 3}};
  expect_matches_reference(m, request(m, HookPoint::AttnZ, heads), grid(m, HookPoint::AttnZ),
                           "heads -> q/k/v");
  expect_matches_reference(m, request(m, HookPoint::AttnZ, {}), grid(m, HookPoint::AttnZ),
                           "heads -> logits");
  SweepRequest last = request(m, HookPoint::AttnZ, heads);
  last.path.last_position = true;
  expect_matches_reference(m, last, grid(m, HookPoint::AttnZ),
                           "heads -> q/k/v at the last position");
  SweepRequest frozen = request(m, HookPoint::AttnZ, {{HookPoint::AttnV, 2, 0}});
  frozen.path.freeze_mlps = true;
  expect_matches_reference(m, frozen, grid(m, HookPoint::AttnZ, {2, 5}),
                           "heads by position -> v, MLPs frozen");
  expect_matches_reference(m, request(m, HookPoint::MlpOut, {{HookPoint::AttnK, 2, 0}}),
                           grid(m, HookPoint::MlpOut), "mlp -> k");
  SweepRequest mlp_logits = request(m, HookPoint::MlpOut, {});
  mlp_logits.path.freeze_mlps = true;
  expect_matches_reference(m, mlp_logits, grid(m, HookPoint::MlpOut, {5, 7}),
                           "mlp by position -> logits, MLPs frozen");
}

TEST(PathPatching, MatchesPlainForwardsOnGpt2) { expect_every_path_matches(*load_fixture_gpt2()); }
TEST(PathPatching, MatchesPlainForwardsOnNeoX) { expect_every_path_matches(*random_neox(11)); }
TEST(PathPatching, MatchesPlainForwardsOnLlamaWithGqa) {
  const auto m = random_llama(12);
  ASSERT_LT(m->config().n_kv_heads, m->config().n_heads);
  expect_every_path_matches(*m);
}
TEST(PathPatching, MatchesPlainForwardsOnMistral) {
  expect_every_path_matches(*random_mistral(13));
}
TEST(PathPatching, MatchesPlainForwardsOnQwen3) { expect_every_path_matches(*random_qwen3(14)); }

// The last block's heads reach the logits only through the unembedding (their layer's MLP reads
// them in both runs alike), so the path to the logits is activation patching of their hook_z,
// corrupted into the clean run; a sender at or after the receivers' layer changes nothing.
TEST(PathPatching, LastLayerHeadToLogitsIsActivationPatchingAndLaterSendersAreClean) {
  const auto m = load_fixture_gpt2();
  const int64_t last = m->config().n_layers - 1;
  CacheStore caches(8);
  GridAxis layer{"layer", {last}, {}};
  const std::vector<GridAxis> axes = {layer, every_index("head", m->config().n_heads)};
  const std::vector<float> path =
      run_cells(*m, request(*m, HookPoint::AttnZ, {}), axes, 0, grid_cells(axes), caches);
  SweepRequest patching = request(*m, HookPoint::AttnZ, {});
  patching.kind = "activation_patching";
  patching.direction = Direction::Noising;
  patching.by_position = false;
  const std::vector<float> act = run_cells(*m, patching, axes, 0, grid_cells(axes), caches);
  ASSERT_EQ(path.size(), act.size());
  for (size_t h = 0; h < path.size(); ++h) EXPECT_NEAR(path[h], act[h], 1e-5) << "head " << h;

  const float clean = static_cast<float>(baselines(*m, patching, caches).clean);
  for (int64_t receiver_layer : {last - 1, last}) {
    const auto r = request(*m, HookPoint::AttnZ, {{HookPoint::AttnQ, receiver_layer, 0}});
    for (float v : run_cells(*m, r, axes, 0, grid_cells(axes), caches)) EXPECT_EQ(v, clean);
  }
}

}  // namespace
}  // namespace csweep::analyses::testing
