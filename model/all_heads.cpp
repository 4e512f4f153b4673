#include "model/all_heads.h"

#include "model/tensor_parallel.h"

namespace csweep::model {

LayerWeights all_heads(const Model& model, const LayerWeights& layer) {
  LayerWeights out;
  out.ln1_w = layer.ln1_w;
  out.ln1_b = layer.ln1_b;
  out.q_norm_w = layer.q_norm_w;
  out.k_norm_w = layer.k_norm_w;
  out.b_O = layer.b_O;
  if (model.partition().whole()) {
    out.W_Q = layer.W_Q, out.b_Q = layer.b_Q, out.W_K = layer.W_K, out.b_K = layer.b_K;
    out.W_V = layer.W_V, out.b_V = layer.b_V, out.W_O = layer.W_O;
    return out;
  }
  const TensorParallel tp(&model.group(), model.config());
  const int64_t d_head = model.config().d_head;
  // Heads on an axis of their own while gathering, so each replicated KV copy is one entry.
  auto gather = [&](const at::Tensor& t, TpSplit split, int64_t dim) {
    if (!t.defined()) return t;
    std::vector<int64_t> shape = t.sizes().vec();
    shape[static_cast<size_t>(dim)] = -1;
    shape.insert(shape.begin() + dim + 1, d_head);
    return tp.gather(split, t.reshape(shape), dim).flatten(dim, dim + 1);
  };
  out.W_Q = gather(layer.W_Q, TpSplit::Heads, 0);
  out.b_Q = gather(layer.b_Q, TpSplit::Heads, 0);
  out.W_K = gather(layer.W_K, TpSplit::KvHeads, 0);
  out.b_K = gather(layer.b_K, TpSplit::KvHeads, 0);
  out.W_V = gather(layer.W_V, TpSplit::KvHeads, 0);
  out.b_V = gather(layer.b_V, TpSplit::KvHeads, 0);
  out.W_O = gather(layer.W_O, TpSplit::Heads, 1);
  return out;
}

}  // namespace csweep::model
