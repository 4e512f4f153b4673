#include "model/partition.h"

#include <string>

#include "common/error.h"

namespace csweep::model {

Partition partition_of(const ModelConfig& c, int rank, int size) {
  const std::string file = c.config_path.string();
  const std::string T = std::to_string(size);
  if (size < 1 || rank < 0 || rank >= size)
    throw error_at(file, "tensor_parallel",
                   "rank " + std::to_string(rank) + " of a group of " + T + " ranks");
  if (c.n_heads % size != 0)
    throw error_at(file, "tensor_parallel",
                   T + " does not divide the " + std::to_string(c.n_heads) + " attention heads");
  if (c.d_mlp % size != 0)
    throw error_at(file, "tensor_parallel",
                   T + " does not divide the MLP width " + std::to_string(c.d_mlp));
  const int64_t kv = c.n_kv_heads;
  if (kv % size != 0 && size % kv != 0)
    throw error_at(file, "tensor_parallel",
                   T + " and the " + std::to_string(kv) +
                       " KV heads do not divide one another (KV heads can be neither split "
                       "evenly nor replicated)");
  Partition p;
  p.rank = rank;
  p.size = size;
  p.q_count = c.n_heads / size;
  p.q_first = rank * p.q_count;
  p.mlp_count = c.d_mlp / size;
  p.mlp_first = rank * p.mlp_count;
  p.kv_replicated = kv < size;
  p.kv_count = p.kv_replicated ? 1 : kv / size;
  p.kv_first = p.kv_replicated ? rank / (size / kv) : rank * p.kv_count;
  return p;
}

ModelConfig local_config(const ModelConfig& c, const Partition& p) {
  ModelConfig local = c;
  local.n_heads = p.q_count;
  local.n_kv_heads = p.kv_count;
  local.d_mlp = p.mlp_count;
  return local;
}

}  // namespace csweep::model
