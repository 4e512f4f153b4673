#pragma once
// Estimates of work and memory from the architecture alone: FLOPs of (partial) forwards,
// bytes of weights, of one batch row's activations and of a prompt's cached activations.
// Estimates, not measurements: good to a small factor, used to order shards, to size
// batches under a memory budget and to predict wall time.
#include <cstdint>

#include "model/config.h"

namespace csweep::sharding {

int64_t dtype_bytes(const std::string& dtype);  // float32 4, bfloat16/float16 2

// FLOPs for one token through one block (projections, attention mixing over a causal
// prefix of `tokens`, MLP).
double block_flops_per_token(const model::ModelConfig& c, int64_t tokens);
uint64_t weight_bytes(const model::ModelConfig& c, int64_t bytes_per_value);
// Peak transient activations of one batch row running `tokens` tokens through a block, plus
// its last-position logits.
uint64_t row_bytes(const model::ModelConfig& c, int64_t tokens, int64_t bytes_per_value);
// The cached activations of one run of a prompt (per-layer residuals, attention and MLP
// outputs, q/k/v/z) that patched rows restart from.
uint64_t run_cache_bytes(const model::ModelConfig& c, int64_t tokens, int64_t bytes_per_value);

}  // namespace csweep::sharding
