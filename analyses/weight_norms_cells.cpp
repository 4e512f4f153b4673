// The weight_norms kind's cells (jobs/kinds/weight_norms.cpp owns its grid): per query head,
// ‖W_OV‖_F and ‖W_QK‖_F from the canonical weights, in float64. ‖A·B‖_F² = trace((AᵀA)(BBᵀ))
// needs only two d_head × d_head Gram matrices, never the d_model × d_model product.
#include <cmath>
#include <map>

#include "analyses/cells.h"
#include "common/error.h"
#include "model/all_heads.h"

namespace csweep::analyses {
namespace {

// Rows [h·d_head, (h+1)·d_head) of an [n·d_head, d_model] projection, per head: [n, d_head,
// d_model].
at::Tensor per_head_rows(const at::Tensor& w, int64_t d_head) {
  return w.to(at::kDouble).reshape({-1, d_head, w.size(1)});
}

// trace(X·Y) for symmetric X and Y, per head: Σ X∘Y.
at::Tensor trace_of_product(const at::Tensor& x, const at::Tensor& y) {
  return (x * y).sum({1, 2});
}

// [2, n_heads]: row 0 ‖W_OV‖_F, row 1 ‖W_QK‖_F of every query head of one layer.
at::Tensor layer_norms(const model::LayerWeights& w, const model::ModelConfig& c) {
  const at::Tensor q = per_head_rows(w.W_Q, c.d_head);                   // [h, dh, d]
  const at::Tensor k = per_head_rows(w.W_K, c.d_head);                   // [hkv, dh, d]
  const at::Tensor v = per_head_rows(w.W_V, c.d_head);                   // [hkv, dh, d]
  const at::Tensor o = per_head_rows(w.W_O.t().contiguous(), c.d_head);  // [h, dh, d]
  // Query head h reads KV head h / (n_heads / n_kv_heads).
  const at::Tensor kv_of = at::arange(c.n_heads, at::kLong).div(c.n_heads / c.n_kv_heads, "floor");
  auto gram = [](const at::Tensor& rows) {
    return at::bmm(rows, rows.transpose(1, 2));
  };  // [n, dh, dh]
  // W_OV = W_V[h]·W_O[h] with W_V[h] = vᵀ, W_O[h] = o: Gram matrices v·vᵀ and o·oᵀ.
  const at::Tensor ov = trace_of_product(gram(v).index_select(0, kv_of), gram(o));
  // W_QK = W_Q[h]·W_K[h]ᵀ with W_Q[h] = qᵀ, W_K[h] = kᵀ: Gram matrices q·qᵀ and k·kᵀ.
  const at::Tensor qk = trace_of_product(gram(q), gram(k).index_select(0, kv_of));
  return at::stack({ov, qk}).clamp_min(0.0).sqrt();
}

std::vector<float> weight_norm_cells(const model::Model& model, const SweepRequest&,
                                     const std::vector<GridAxis>& axes, int64_t begin, int64_t end,
                                     CacheStore&) {
  if (axes.size() != 3 || axes[0].name != "quantity" || axes[1].name != "layer" ||
      axes[2].name != "head")
    throw error_at("analysis", "weight_norms", "expects the grid [quantity, layer, head]");
  const model::ModelConfig& c = model.config();
  std::map<int64_t, at::Tensor> by_layer;  // computed once per layer the range touches
  std::vector<float> out;
  for (const detail::Cell& cell : detail::decode_cells(axes, begin, end)) {
    auto it = by_layer.find(cell.layer);
    if (it == by_layer.end())
      it = by_layer
               .emplace(
                   cell.layer,
                   layer_norms(model::all_heads(model, model.weights().layers.at(cell.layer)), c)
                       .cpu())
               .first;
    out.push_back(static_cast<float>(it->second[cell.quantity][cell.head].item<double>()));
  }
  return out;
}

const KindCellsRegistration weight_norms_registration("weight_norms", weight_norm_cells);

}  // namespace
}  // namespace csweep::analyses
