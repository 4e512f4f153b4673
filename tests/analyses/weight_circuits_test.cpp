// The weight-circuit kinds' cells (through the registrations the worker uses) against values
// computed independently: composition scores by TransformerLens's formula on plain dense
// d_model × d_model matrices, copying scores from the eigenvalues of the dense
// d_vocab × d_vocab full OV circuit, and positional previous-token scores from the model's own
// forward pass with every input but W_pos silenced.
#include <ATen/core/grad_mode.h>
#include <gtest/gtest.h>

#include "analyses/sweep.h"
#include "analyses/weight_processing.h"
#include "common/error.h"
#include "model/hooks.h"
#include "tests/analyses/random_models.h"

namespace csweep::analyses::testing {
namespace {

GridAxis index_axis(const char* name, int64_t n) {
  GridAxis a{name, {}, {}};
  for (int64_t i = 0; i < n; ++i) a.values.push_back(i);
  return a;
}

std::vector<float> cells_of(const char* kind, const model::Model& m,
                            const std::vector<GridAxis>& axes) {
  const KindCells cells = find_kind_cells(kind);
  EXPECT_NE(cells, nullptr) << kind << " registered no cells";
  CacheStore caches(1);
  return cells(m, SweepRequest{}, axes, 0, grid_cells(axes), caches);
}

// TransformerLens's per-head matrices (d_model × d_model, x @ W orientation), multiplied out.
struct DenseHead {
  at::Tensor OV, QK;
};
DenseHead dense_head(const model::Model& m, int64_t layer, int64_t h) {
  const model::ModelConfig& c = m.config();
  const auto& w = m.weights().layers[layer];
  const int64_t g = h / c.kv_group(), dh = c.d_head;
  auto cols = [&](const at::Tensor& t, int64_t i) {  // TL's W_Q/W_K/W_V[i]: d × d_head
    return t.to(at::kDouble).narrow(0, i * dh, dh).t();
  };
  const at::Tensor W_O = w.W_O.to(at::kDouble).narrow(1, h * dh, dh).t();  // d_head × d
  return {cols(w.W_V, g).matmul(W_O), cols(w.W_Q, h).matmul(cols(w.W_K, g).t())};
}

// TransformerLens's utils.composition_scores: ‖left @ right‖_F / (‖left‖_F · ‖right‖_F),
// left = OV_A; right = QK_B (Q), QK_Bᵀ (K), OV_B (V); all_composition_scores masks
// layer_A >= layer_B to 0.
double tl_composition(const DenseHead& a, const DenseHead& b, int64_t mode) {
  const at::Tensor right = mode == 0 ? b.QK : mode == 1 ? b.QK.t() : b.OV;
  return (a.OV.matmul(right).norm() / (a.OV.norm() * right.norm())).item<double>();
}

std::vector<GridAxis> composition_grid(const model::ModelConfig& c, int64_t processing = 0) {
  return {GridAxis{"processing", {processing}, {}}, GridAxis{"composition", {0, 1, 2}, {}},
          index_axis("source_layer", c.n_layers),   index_axis("source_head", c.n_heads),
          index_axis("layer", c.n_layers),          index_axis("head", c.n_heads)};
}

// `reference` gives the dense heads (the same model, or one processed in place).
void expect_tl_composition(const model::Model& m, const model::Model& reference,
                           int64_t processing = 0) {
  const model::ModelConfig& c = m.config();
  const auto axes = composition_grid(c, processing);
  const std::vector<float> got = cells_of("composition_scores", m, axes);
  ASSERT_EQ(static_cast<int64_t>(got.size()), grid_cells(axes));
  const int64_t L = c.n_layers, H = c.n_heads;
  size_t i = 0, nonzero = 0;
  for (int64_t mode = 0; mode < 3; ++mode)
    for (int64_t la = 0; la < L; ++la)
      for (int64_t ha = 0; ha < H; ++ha)
        for (int64_t lb = 0; lb < L; ++lb)
          for (int64_t hb = 0; hb < H; ++hb, ++i) {
            const double want = la < lb ? tl_composition(dense_head(reference, la, ha),
                                                         dense_head(reference, lb, hb), mode)
                                        : 0.0;
            nonzero += want > 0;
            EXPECT_NEAR(got[i], want, 1e-5 * std::max(want, 1e-3))
                << "mode " << mode << " L" << la << "H" << ha << " -> L" << lb << "H" << hb;
          }
  EXPECT_EQ(nonzero, static_cast<size_t>(3 * H * H * L * (L - 1) / 2));
  // A shard's range is the same slice of the grid.
  const KindCells cells = find_kind_cells("composition_scores");
  CacheStore caches(1);
  const int64_t n = grid_cells(axes);
  EXPECT_EQ(cells(m, SweepRequest{}, axes, 5, n - 3, caches),
            std::vector<float>(got.begin() + 5, got.end() - 3));
}

TEST(CompositionScores, Gpt2FixtureMatchesTransformerLensFormula) {
  auto m = load_fixture_gpt2();
  expect_tl_composition(*m, *m);
}
TEST(CompositionScores, GroupedQueryLlamaMatchesTransformerLensFormula) {
  auto m = random_llama(21);
  expect_tl_composition(*m, *m);
}
TEST(CompositionScores, MultiQueryQwen3MatchesTransformerLensFormula) {
  auto m = random_qwen3(22);
  expect_tl_composition(*m, *m);
}
TEST(CompositionScores, NeoxMatchesTransformerLensFormula) {
  auto m = random_neox(23);
  expect_tl_composition(*m, *m);
}

// processing: transformer_lens computes on TransformerLens's processed weights (and leaves the
// model alone): the same numbers as a model processed in place.
TEST(CompositionScores, TransformerLensProcessingMatchesAProcessedModel) {
  auto m = load_fixture_gpt2(), processed = load_fixture_gpt2();
  const at::Tensor W_Q_before = m->weights().layers[1].W_Q.clone();
  process_weights(*processed);
  expect_tl_composition(*m, *processed, 1);
  EXPECT_TRUE(at::equal(m->weights().layers[1].W_Q, W_Q_before));
  // Processing changes the numbers (centring W_O and the query/key inputs).
  const auto raw = cells_of("composition_scores", *m, composition_grid(m->config(), 0));
  const auto tl = cells_of("composition_scores", *m, composition_grid(m->config(), 1));
  EXPECT_NE(raw, tl);
}

std::vector<GridAxis> head_grid(const model::ModelConfig& c, int64_t score,
                                std::vector<int64_t> processing = {0}) {
  return {GridAxis{"processing", std::move(processing), {}}, GridAxis{"score", {score}, {}},
          index_axis("layer", c.n_layers), index_axis("head", c.n_heads)};
}

// Re Σλ / Σ|λ| over the eigenvalues of the dense d_vocab × d_vocab W_E·W_OV·W_U.
double dense_copying(const model::Model& m, int64_t layer, int64_t h) {
  const at::Tensor W_E = m.weights().W_E.to(at::kDouble), W_U = m.weights().W_U.to(at::kDouble);
  const at::Tensor full = W_E.matmul(dense_head(m, layer, h).OV).matmul(W_U.t());
  EXPECT_EQ(full.size(0), m.config().d_vocab);
  const at::Tensor eig = at::linalg_eigvals(full);
  return (at::real(eig.sum()) / at::abs(eig).sum()).item<double>();
}

void expect_dense_copying(const model::Model& m) {
  const model::ModelConfig& c = m.config();
  const std::vector<float> got = cells_of("head_circuits", m, head_grid(c, 0));
  for (int64_t l = 0; l < c.n_layers; ++l)
    for (int64_t h = 0; h < c.n_heads; ++h) {
      const double want = dense_copying(m, l, h);
      EXPECT_NEAR(got[l * c.n_heads + h], want, 1e-5) << "L" << l << "H" << h;
      EXPECT_LE(std::abs(want), 1.0);
    }
}

// The model with its first `n` tokens only: the dense d_vocab × d_vocab eigenproblem stays
// small (the cells never form it, whatever the vocabulary).
std::shared_ptr<model::Model> first_tokens(const model::Model& m, int64_t n) {
  model::ModelConfig c = m.config();
  model::Weights w = m.weights();
  c.d_vocab = n;
  w.W_E = w.W_E.narrow(0, 0, n).clone();
  w.W_U = w.W_U.narrow(0, 0, n).clone();
  if (w.b_U.defined()) w.b_U = w.b_U.narrow(0, 0, n).clone();
  return std::make_shared<model::Model>(c, w, m.dtype(), m.device());
}

TEST(HeadCircuits, CopyingMatchesDenseFullCircuitEigenvalues) {
  expect_dense_copying(*first_tokens(*load_fixture_gpt2(), 160));
}
TEST(HeadCircuits, CopyingMatchesDenseFullCircuitEigenvaluesUnderGqa) {
  expect_dense_copying(*first_tokens(*random_llama(24), 160));
}

// A head whose OV circuit is the identity on the residual (W_V[h]·W_O[h] = P, P a projection)
// with tied embeddings has the full circuit W_E·P·W_Eᵀ, positive semi-definite: score 1.
TEST(HeadCircuits, PlantedCopyingHeadScoresOne) {
  auto m = load_fixture_gpt2();
  const model::ModelConfig& c = m->config();
  model::Weights w = m->weights();
  const at::Tensor V = w.layers[0].W_V.clone(), O = w.layers[0].W_O.clone();
  V.narrow(0, 0, c.d_head).copy_(at::eye(c.d_head, c.d_model));  // W_V[0] rows: e_0..e_15
  O.narrow(1, 0, c.d_head).copy_(at::eye(c.d_model, c.d_head));  // W_O[0] columns: e_0..e_15
  w.layers[0].W_V = V;
  w.layers[0].W_O = O;
  w.W_U = w.W_E;
  model::Model planted(c, w, m->dtype(), m->device());
  EXPECT_NEAR(cells_of("head_circuits", planted, head_grid(c, 0))[0], 1.0, 1e-6);
}

// The model's own layer-L attention pattern when the residual entering layer L is W_pos alone
// (embeddings and every earlier block's writes zeroed): the mean attention to the previous
// position.
double forward_previous_token(const model::Model& m, int64_t layer, int64_t h) {
  model::Weights w = m.weights();
  w.W_E = at::zeros_like(w.W_E);
  for (int64_t l = 0; l < layer; ++l)
    for (at::Tensor* t :
         {&w.layers[l].W_O, &w.layers[l].b_O, &w.layers[l].W_out, &w.layers[l].b_out})
      *t = at::zeros_like(*t);
  model::Model silenced(m.config(), w, m.dtype(), m.device());
  const int64_t n = m.config().n_ctx;
  model::Hooks hooks;
  const model::HookSite site{model::HookPoint::AttnPattern, layer};
  hooks.cache(site);
  at::NoGradGuard no_grad;
  silenced.forward(at::arange(n, at::kLong).unsqueeze(0), &hooks);
  const at::Tensor pattern = hooks.cache().at(site)[0][h].to(at::kDouble);  // [q, k]
  return pattern.diagonal(-1).mean().item<double>();
}

TEST(HeadCircuits, PreviousTokenMatchesTheForwardOnPositionsAlone) {
  auto m = load_fixture_gpt2();
  const model::ModelConfig& c = m->config();
  // Both processings: TransformerLens's (fold_ln, centring) leaves the pattern unchanged.
  const std::vector<float> got = cells_of("head_circuits", *m, head_grid(c, 1, {0, 1}));
  const int64_t per = c.n_layers * c.n_heads;
  for (int64_t l = 0; l < c.n_layers; ++l)
    for (int64_t h = 0; h < c.n_heads; ++h) {
      const double want = forward_previous_token(*m, l, h);
      EXPECT_NEAR(got[l * c.n_heads + h], want, 2e-5) << "L" << l << "H" << h;
      EXPECT_NEAR(got[per + l * c.n_heads + h], want, 2e-5) << "processed L" << l << "H" << h;
    }
}

TEST(HeadCircuits, PreviousTokenNeedsLearnedPositions) {
  auto m = random_llama(25);
  EXPECT_THROW(cells_of("head_circuits", *m, head_grid(m->config(), 1)), Error);
}

TEST(WeightCircuits, RefuseAnotherGrid) {
  auto m = load_fixture_gpt2();
  auto axes = head_grid(m->config(), 0);
  std::swap(axes[2], axes[3]);
  CacheStore caches(1);
  EXPECT_THROW(find_kind_cells("head_circuits")(*m, SweepRequest{}, axes, 0, 1, caches), Error);
  auto pairs = composition_grid(m->config());
  pairs.pop_back();
  EXPECT_THROW(find_kind_cells("composition_scores")(*m, SweepRequest{}, pairs, 0, 1, caches),
               Error);
}

}  // namespace
}  // namespace csweep::analyses::testing
