// The weight-circuit kinds' cells (jobs/kinds/weight_circuits.cpp owns their grids): exact
// float64 linear algebra on the canonical weights, GQA-aware (query head h reads KV head
// h / kv_group). Every head circuit is kept as TransformerLens's FactoredMatrix keeps it, two
// d_head-rank factors, and every number comes from d_head × d_head (or d_model × d_model)
// products: nothing d_model × d_model per head, nothing d_vocab × d_vocab ever.
#include <ATen/core/grad_mode.h>

#include <algorithm>
#include <cmath>
#include <initializer_list>
#include <map>
#include <memory>
#include <tuple>

#include "analyses/cells.h"
#include "analyses/weight_processing.h"
#include "common/error.h"
#include "model/all_heads.h"

namespace csweep::analyses {
namespace {

constexpr int64_t kProcessingNone = 0;  // index in the kinds' processing choices
constexpr int64_t kCopying = 0;         // head_circuits scores: copying, previous_token
constexpr int64_t kVocabChunk = 8192;   // rows of W_E / W_U read at a time

// A head circuit Lᵀ·R with L, R [n_heads, d_head, d_model] (TransformerLens's FactoredMatrix
// with left = Lᵀ, right = R): OV = (V, O) is W_V[h]·W_O[h], QK = (Q, K) is W_Q[h]·W_K[h]ᵀ.
struct Factored {
  at::Tensor left, right;
};

// One layer's per-query-head rows, float64: Q, K, V are rows of W_Q/W_K/W_V (KV heads
// repeated for their query heads), O is W_O's columns transposed (TL's W_O[h]).
struct HeadRows {
  at::Tensor Q, K, V, O, b_Q, b_K;  // [h, dh, d]; biases [h, dh] or undefined
};

HeadRows head_rows(const model::LayerWeights& w, const model::ModelConfig& c) {
  auto rows = [&](const at::Tensor& t) {
    return t.to(at::kDouble).reshape({-1, c.d_head, t.size(-1)});
  };
  const at::Tensor kv_of =
      at::arange(c.n_heads, at::TensorOptions(at::kLong).device(w.W_Q.device()))
          .div(c.kv_group(), "floor");
  auto bias = [&](const at::Tensor& b, bool kv) {
    if (!b.defined()) return at::Tensor();
    const at::Tensor per_head = b.to(at::kDouble).reshape({-1, c.d_head});
    return kv ? per_head.index_select(0, kv_of) : per_head;
  };
  return {rows(w.W_Q),
          rows(w.W_K).index_select(0, kv_of),
          rows(w.W_V).index_select(0, kv_of),
          rows(w.W_O.t().contiguous()),
          bias(w.b_Q, false),
          bias(w.b_K, true)};
}

at::Tensor gram(const at::Tensor& rows) { return at::matmul(rows, rows.transpose(-1, -2)); }

// ‖Lᵀ·R‖_F per head: trace((L·Lᵀ)(R·Rᵀ)).
at::Tensor norms(const Factored& f) {
  return (gram(f.left) * gram(f.right)).sum({-2, -1}).clamp_min(0.0).sqrt();
}

// TransformerLens's composition score ‖A·B‖_F / (‖A‖_F·‖B‖_F) for every head a of `writer`
// and b of `reader`, [a, b]: A·B = L_Aᵀ·M·R_B with M = R_A·L_Bᵀ (d_head × d_head), so
// ‖A·B‖² = trace(Mᵀ·(L_A·L_Aᵀ)·M·(R_B·R_Bᵀ)). A zero head composes with nothing: 0, not 0/0.
at::Tensor composition(const Factored& writer, const Factored& reader) {
  const at::Tensor M = at::einsum("ard,bsd->abrs", {writer.right, reader.left});
  const at::Tensor GM = at::einsum("arq,abqs->abrs", {gram(writer.left), M});
  const at::Tensor GMG = at::einsum("abrq,bqs->abrs", {GM, gram(reader.right)});
  const at::Tensor product = (M * GMG).sum({-2, -1}).clamp_min(0.0).sqrt();
  const at::Tensor denominator = norms(writer).unsqueeze(1) * norms(reader).unsqueeze(0);
  return at::where(denominator > 0, product / denominator, at::zeros_like(product));
}

// The weights one processing variant computes with: the model's own, or a float64 copy of the
// attention-side weights under TransformerLens's default processing (the MLPs are not needed).
std::shared_ptr<const model::Weights> variant_weights(const model::Model& m, int64_t processing) {
  const model::Weights& w = m.weights();
  if (processing == kProcessingNone) return {std::shared_ptr<const model::Weights>(), &w};
  auto dbl = [](const at::Tensor& t) { return t.defined() ? t.to(at::kDouble) : t; };
  model::Weights a;
  a.W_E = dbl(w.W_E);
  a.W_pos = dbl(w.W_pos);
  a.W_U = dbl(w.W_U);
  a.b_U = dbl(w.b_U);
  a.ln_final_w = dbl(w.ln_final_w);
  a.ln_final_b = dbl(w.ln_final_b);
  for (const model::LayerWeights& l : w.layers) {
    model::LayerWeights o;
    using Slot = std::pair<at::Tensor*, const at::Tensor*>;
    for (const Slot& s : std::initializer_list<Slot>{{&o.ln1_w, &l.ln1_w},
                                                     {&o.ln1_b, &l.ln1_b},
                                                     {&o.W_Q, &l.W_Q},
                                                     {&o.b_Q, &l.b_Q},
                                                     {&o.W_K, &l.W_K},
                                                     {&o.b_K, &l.b_K},
                                                     {&o.W_V, &l.W_V},
                                                     {&o.b_V, &l.b_V},
                                                     {&o.W_O, &l.W_O},
                                                     {&o.b_O, &l.b_O},
                                                     {&o.ln2_w, &l.ln2_w},
                                                     {&o.ln2_b, &l.ln2_b}})
      *s.first = dbl(*s.second);
    a.layers.push_back(std::move(o));
  }
  // The rank's slice under tensor parallelism, processed on the same group (b_V's fold sums
  // over every rank's heads).
  model::Model copy(m.config(), std::move(a), at::kDouble, m.device(),
                    m.partition().whole() ? nullptr : &m.group());
  process_weights(copy, WeightProcessing{});
  return std::make_shared<const model::Weights>(copy.weights());
}

// W_Uᵀ·W_E [d, d] (TransformerLens orientation W_E·…·W_U), summed over vocabulary chunks so
// no d_vocab-sized product is ever held.
at::Tensor unembed_embed(const model::Weights& w) {
  const int64_t vocab = std::min(w.W_E.size(0), w.W_U.size(0));
  at::Tensor g = at::zeros({w.W_E.size(1), w.W_E.size(1)}, w.W_E.options().dtype(at::kDouble));
  for (int64_t s = 0; s < vocab; s += kVocabChunk) {
    const int64_t n = std::min(kVocabChunk, vocab - s);
    g.addmm_(w.W_U.narrow(0, s, n).to(at::kDouble).t(), w.W_E.narrow(0, s, n).to(at::kDouble));
  }
  return g;
}

// "A Mathematical Framework for Transformer Circuits": the full OV circuit W_E·W_OV[h]·W_U
// (d_vocab × d_vocab) has the nonzero eigenvalues of its d_head × d_head flip
// W_O[h]·(W_U·W_E)·W_V[h] (eig(AB) = eig(BA) plus zeros); the score is
// Re Σλ / Σ|λ| as in TransformerLens's demo (1: the head copies every token it attends to).
at::Tensor copying_scores(const HeadRows& r, const at::Tensor& unembed_embed) {
  const at::Tensor flip = at::matmul(at::matmul(r.O, unembed_embed), r.V.transpose(-1, -2));
  const at::Tensor eig = at::linalg_eigvals(flip);
  const at::Tensor total = at::abs(eig).sum(-1);
  const at::Tensor real = at::real(eig.sum(-1));
  return at::where(total > 0, real / total, at::zeros_like(total));
}

// The layer's attention from positional embeddings alone: queries and keys of the block's norm
// of W_pos[i] (its biases included), the model's score scale, causal softmax; the score is the
// mean attention of positions 1..n_ctx-1 to the one before.
at::Tensor previous_token_scores(const HeadRows& r, const model::LayerWeights& lw,
                                 const model::Weights& w, const model::ModelConfig& c,
                                 int64_t layer) {
  if (!w.W_pos.defined())
    throw error_at("analysis", "head_circuits",
                   "previous_token needs learned positional embeddings (W_pos)");
  const at::Tensor pos = w.W_pos.to(at::kDouble);
  const at::Tensor ln_w = lw.ln1_w.to(at::kDouble);
  at::Tensor x;
  if (c.norm == model::NormKind::LayerNorm)
    x = at::layer_norm(pos, {c.d_model}, ln_w,
                       lw.ln1_b.defined() ? lw.ln1_b.to(at::kDouble) : at::Tensor(), c.norm_eps);
  else
    x = pos * at::rsqrt(pos.pow(2).mean(-1, true) + c.norm_eps) * ln_w;
  at::Tensor q = at::einsum("pd,hrd->hpr", {x, r.Q}), k = at::einsum("pd,hrd->hpr", {x, r.K});
  if (r.b_Q.defined()) q = q + r.b_Q.unsqueeze(1);
  if (r.b_K.defined()) k = k + r.b_K.unsqueeze(1);
  double scale = c.attn_scale > 0 ? c.attn_scale : 1.0 / std::sqrt(static_cast<double>(c.d_head));
  if (c.scale_attn_by_inverse_layer_idx) scale /= static_cast<double>(layer + 1);
  const int64_t n = pos.size(0);
  const at::Tensor future = at::ones({n, n}, q.options().dtype(at::kBool)).triu(1);
  const at::Tensor pattern =
      at::softmax(at::matmul(q, k.transpose(-1, -2)).mul(scale).masked_fill(future, -INFINITY), -1);
  return pattern.diagonal(-1, -2, -1).mean(-1);
}

// The value of each axis at `cell` (row-major).
std::vector<int64_t> cell_coordinates(const std::vector<GridAxis>& axes, int64_t cell) {
  std::vector<int64_t> out(axes.size());
  for (size_t a = axes.size(); a-- > 0;) {
    out[a] = axes[a].values[cell % axes[a].size()];
    cell /= axes[a].size();
  }
  return out;
}

void expect_grid(const std::vector<GridAxis>& axes, const std::vector<std::string>& names,
                 const char* kind) {
  bool same = axes.size() == names.size();
  for (size_t i = 0; same && i < names.size(); ++i) same = axes[i].name == names[i];
  if (!same) {
    std::string grid;
    for (const auto& n : names) grid += (grid.empty() ? "[" : ", ") + n;
    throw error_at("analysis", kind, "expects the grid " + grid + "]");
  }
}

// The per-call state: each processing variant's weights and each layer's head rows, built
// once for the cells of [begin, end) that need them.
class Variants {
 public:
  explicit Variants(const model::Model& m) : m_(m) {}
  const model::Weights& weights(int64_t p) {
    auto it = weights_.find(p);
    if (it == weights_.end()) it = weights_.emplace(p, variant_weights(m_, p)).first;
    return *it->second;
  }
  const HeadRows& rows(int64_t p, int64_t layer) {
    auto it = rows_.find({p, layer});
    if (it == rows_.end())
      it = rows_
               .emplace(std::pair{p, layer},
                        head_rows(model::all_heads(m_, weights(p).layers.at(layer)), m_.config()))
               .first;
    return it->second;
  }

 private:
  const model::Model& m_;
  std::map<int64_t, std::shared_ptr<const model::Weights>> weights_;
  std::map<std::pair<int64_t, int64_t>, HeadRows> rows_;
};

std::vector<float> head_circuit_cells(const model::Model& model, const SweepRequest&,
                                      const std::vector<GridAxis>& axes, int64_t begin, int64_t end,
                                      CacheStore&) {
  expect_grid(axes, {"processing", "score", "layer", "head"}, "head_circuits");
  at::NoGradGuard no_grad;
  Variants variants(model);
  std::map<int64_t, at::Tensor> gram_of;  // per processing: W_Uᵀ·W_E
  std::map<std::tuple<int64_t, int64_t, int64_t>, at::Tensor> scores;  // per (p, score, layer)
  std::vector<float> out;
  for (int64_t cell = begin; cell < end; ++cell) {
    const std::vector<int64_t> x = cell_coordinates(axes, cell);
    const int64_t p = x[0], score = x[1], layer = x[2], head = x[3];
    auto it = scores.find({p, score, layer});
    if (it == scores.end()) {
      const HeadRows& r = variants.rows(p, layer);
      const model::Weights& w = variants.weights(p);
      at::Tensor s;
      if (score == kCopying) {
        auto g = gram_of.find(p);
        if (g == gram_of.end()) g = gram_of.emplace(p, unembed_embed(w)).first;
        s = copying_scores(r, g->second);
      } else {
        s = previous_token_scores(r, w.layers.at(layer), w, model.config(), layer);
      }
      it = scores.emplace(std::tuple{p, score, layer}, s.cpu()).first;
    }
    out.push_back(static_cast<float>(it->second[head].item<double>()));
  }
  return out;
}

// Head A (source) writes through its OV circuit; head B (reader) reads it with its query (Q:
// B's QK circuit), its key (K: B's QK circuit transposed) or its value (V: B's OV circuit).
Factored reader_circuit(const HeadRows& r, int64_t composition) {
  switch (composition) {
    case 0:
      return {r.Q, r.K};
    case 1:
      return {r.K, r.Q};
    default:
      return {r.V, r.O};
  }
}

std::vector<float> composition_cells(const model::Model& model, const SweepRequest&,
                                     const std::vector<GridAxis>& axes, int64_t begin, int64_t end,
                                     CacheStore&) {
  expect_grid(axes, {"processing", "composition", "source_layer", "source_head", "layer", "head"},
              "composition_scores");
  at::NoGradGuard no_grad;
  Variants variants(model);
  // per (processing, composition, source layer, layer): [source head, head]
  std::map<std::tuple<int64_t, int64_t, int64_t, int64_t>, at::Tensor> blocks;
  std::vector<float> out;
  for (int64_t cell = begin; cell < end; ++cell) {
    const std::vector<int64_t> x = cell_coordinates(axes, cell);
    const int64_t p = x[0], comp = x[1], la = x[2], ha = x[3], lb = x[4], hb = x[5];
    if (la >= lb) {  // TransformerLens's mask: only a later head reads an earlier one
      out.push_back(0.0F);
      continue;
    }
    auto it = blocks.find({p, comp, la, lb});
    if (it == blocks.end()) {
      const HeadRows& a = variants.rows(p, la);
      const at::Tensor s =
          composition(Factored{a.V, a.O}, reader_circuit(variants.rows(p, lb), comp));
      it = blocks.emplace(std::tuple{p, comp, la, lb}, s.cpu()).first;
    }
    out.push_back(static_cast<float>(it->second[ha][hb].item<double>()));
  }
  return out;
}

const KindCellsRegistration head_circuits_registration("head_circuits", head_circuit_cells);
const KindCellsRegistration composition_scores_registration("composition_scores",
                                                            composition_cells);

}  // namespace
}  // namespace csweep::analyses
