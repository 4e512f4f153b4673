// The weight_norms kind's cells (through run_cells, as the worker computes every kind) against
// plain dense norms of the d_model × d_model products, on the GPT-2 fixture and on random GQA/MQA
// and NeoX models.
#include <gtest/gtest.h>

#include "analyses/sweep.h"
#include "common/error.h"
#include "tests/analyses/random_models.h"

namespace csweep::analyses::testing {
namespace {

std::vector<GridAxis> norms_grid(const model::ModelConfig& c) {
  GridAxis quantity{"quantity", {0, 1}, {"ov", "qk"}};
  GridAxis layer{"layer", {}, {}}, head{"head", {}, {}};
  for (int64_t l = 0; l < c.n_layers; ++l) layer.values.push_back(l);
  for (int64_t h = 0; h < c.n_heads; ++h) head.values.push_back(h);
  return {quantity, layer, head};
}

// TransformerLens's per-head matrices from the canonical [out, in] weights, multiplied out.
double dense_norm(const model::Model& m, int64_t quantity, int64_t layer, int64_t h) {
  const model::ModelConfig& c = m.config();
  const auto& w = m.weights().layers[layer];
  const int64_t g = h / (c.n_heads / c.n_kv_heads), dh = c.d_head;
  auto rows = [&](const at::Tensor& t, int64_t i) {
    return t.to(at::kDouble).narrow(0, i * dh, dh);
  };
  at::Tensor product;
  if (quantity == 0) {  // W_V[h] (d × dh) · W_O[h] (dh × d)
    const at::Tensor W_O_h = w.W_O.to(at::kDouble).narrow(1, h * dh, dh).t();
    product = rows(w.W_V, g).t().matmul(W_O_h);
  } else {  // W_Q[h] (d × dh) · W_K[h]ᵀ (dh × d)
    product = rows(w.W_Q, h).t().matmul(rows(w.W_K, g));
  }
  EXPECT_EQ(product.size(0), c.d_model);
  return product.norm().item<double>();
}

void expect_dense_norms(const model::Model& m) {
  ASSERT_NE(find_kind_cells("weight_norms"), nullptr) << "weight_norms registered no cells";
  SweepRequest norms;
  norms.kind = "weight_norms";
  const auto axes = norms_grid(m.config());
  const int64_t n = grid_cells(axes);
  CacheStore caches(1);
  const std::vector<float> all = run_cells(m, norms, axes, 0, n, caches);
  ASSERT_EQ(static_cast<int64_t>(all.size()), n);
  const int64_t L = m.config().n_layers, H = m.config().n_heads;
  for (int64_t q = 0; q < 2; ++q)
    for (int64_t l = 0; l < L; ++l)
      for (int64_t h = 0; h < H; ++h) {
        const double dense = dense_norm(m, q, l, h);
        EXPECT_GT(dense, 0.0);
        EXPECT_NEAR(all[(q * L + l) * H + h], dense, 1e-5 * dense)
            << "quantity " << q << " layer " << l << " head " << h;
      }
  // A shard's range is the same slice of the grid.
  const std::vector<float> part = run_cells(m, norms, axes, 3, n - 2, caches);
  EXPECT_EQ(part, std::vector<float>(all.begin() + 3, all.end() - 2));
}

TEST(WeightNorms, Gpt2FixtureMatchesDenseProducts) { expect_dense_norms(*load_fixture_gpt2()); }
TEST(WeightNorms, GroupedQueryLlamaMatchesDenseProducts) { expect_dense_norms(*random_llama(11)); }
TEST(WeightNorms, MultiQueryQwen3MatchesDenseProducts) { expect_dense_norms(*random_qwen3(12)); }
TEST(WeightNorms, NeoxMatchesDenseProducts) { expect_dense_norms(*random_neox(13)); }

TEST(WeightNorms, RefusesAnotherGrid) {
  auto m = load_fixture_gpt2();
  auto axes = norms_grid(m->config());
  std::swap(axes[0], axes[1]);
  CacheStore caches(1);
  SweepRequest norms;
  norms.kind = "weight_norms";
  EXPECT_THROW(run_cells(*m, norms, axes, 0, 1, caches), Error);
}

}  // namespace
}  // namespace csweep::analyses::testing
