#include "model/tensor_parallel.h"

#include <vector>

namespace csweep::model {

TensorParallel::TensorParallel(Collective* group, const ModelConfig& config)
    : group_(group),
      part_(partition_of(config, group ? group->rank() : 0, group ? group->size() : 1)) {
  if (!part_.kv_replicated) return;
  // Rank r holds KV head r / (size / n_kv): the gather's entry r of every KV head's ranks.
  std::vector<int64_t> pick;
  const int64_t per_head = part_.size / config.n_kv_heads;
  for (int64_t j = 0; j < config.n_kv_heads; ++j) pick.push_back(j * per_head);
  kv_pick_ = at::tensor(pick, at::TensorOptions().dtype(at::kLong));
}

at::Tensor TensorParallel::all_reduce(const at::Tensor& partial) const {
  at::Tensor sum = partial.contiguous();
  group().all_reduce_sum(sum);
  return sum;
}

at::Tensor TensorParallel::row_parallel(const at::Tensor& x, const at::Tensor& w,
                                        const at::Tensor& b) const {
  if (!active()) return at::linear(x, w, b);
  at::Tensor y = all_reduce(at::linear(x, w));
  return b.defined() ? y + b : y;
}

at::Tensor TensorParallel::gather(TpSplit split, const at::Tensor& local, int64_t dim) const {
  if (!active() || split == TpSplit::Replicated) return local;
  at::Tensor all = group().all_gather(local.contiguous(), dim);
  if (split == TpSplit::KvHeads && part_.kv_replicated)
    all = all.index_select(dim, kv_pick_.to(all.device()));
  return all;
}

at::Tensor TensorParallel::local_part(TpSplit split, const at::Tensor& full, int64_t dim) const {
  switch (split) {
    case TpSplit::Heads:
      return full.narrow(dim, part_.q_first, part_.q_count);
    case TpSplit::KvHeads:
      return full.narrow(dim, part_.kv_first, part_.kv_count);
    case TpSplit::Neurons:
      return full.narrow(dim, part_.mlp_first, part_.mlp_count);
    case TpSplit::Replicated:
      break;
  }
  return full;
}

Weights shard_weights(const Weights& full, const ModelConfig& c, const Partition& p) {
  if (p.whole()) return full;
  const int64_t dh = c.d_head;
  auto part = [](const at::Tensor& t, int64_t dim, int64_t first, int64_t count) {
    return t.defined() ? t.narrow(dim, first, count).clone(at::MemoryFormat::Contiguous) : t;
  };
  Weights w = full;
  for (LayerWeights& l : w.layers) {
    l.W_Q = part(l.W_Q, 0, p.q_first * dh, p.q_count * dh);
    l.b_Q = part(l.b_Q, 0, p.q_first * dh, p.q_count * dh);
    l.W_K = part(l.W_K, 0, p.kv_first * dh, p.kv_count * dh);
    l.b_K = part(l.b_K, 0, p.kv_first * dh, p.kv_count * dh);
    l.W_V = part(l.W_V, 0, p.kv_first * dh, p.kv_count * dh);
    l.b_V = part(l.b_V, 0, p.kv_first * dh, p.kv_count * dh);
    l.W_O = part(l.W_O, 1, p.q_first * dh, p.q_count * dh);
    l.W_in = part(l.W_in, 0, p.mlp_first, p.mlp_count);
    l.b_in = part(l.b_in, 0, p.mlp_first, p.mlp_count);
    l.W_gate = part(l.W_gate, 0, p.mlp_first, p.mlp_count);
    l.W_out = part(l.W_out, 1, p.mlp_first, p.mlp_count);
  }
  return w;
}

}  // namespace csweep::model
