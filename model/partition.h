#pragma once
// Which part of every layer one rank of a tensor-parallel group holds (Megatron-LM's split):
// a contiguous block of query heads, the KV heads those query heads read, and a contiguous
// block of MLP neurons. Torch-free: sharding/ and the loader use the same arithmetic.
#include <cstdint>

#include "model/config.h"

namespace csweep::model {

struct Partition {
  int rank = 0, size = 1;
  int64_t q_first = 0, q_count = 0;      // query heads [q_first, q_first + q_count)
  int64_t kv_first = 0, kv_count = 0;    // KV heads this rank holds
  int64_t mlp_first = 0, mlp_count = 0;  // MLP neurons (rows of W_in/W_gate, columns of W_out)
  // KV heads are split when there are at least as many as ranks, else each rank holds a copy
  // of the one KV head its query heads read (as vLLM does).
  bool kv_replicated = false;

  bool whole() const { return size == 1; }
};

// Rank `rank` of `size`. Throws csweep::Error "CONFIG: tensor_parallel: ..." in one line when
// size does not divide the query heads or the MLP width, or when the KV heads can be neither
// split evenly nor replicated (n_kv_heads and size must divide one another).
Partition partition_of(const ModelConfig& config, int rank, int size);

// The config of one rank's slice of every block: n_heads, n_kv_heads and d_mlp are the rank's
// own counts (the block math runs on it unchanged); everything else is the model's.
ModelConfig local_config(const ModelConfig& config, const Partition& part);

}  // namespace csweep::model
