#pragma once
// The transformer blocks over a packed batch; internal to model/ (Model::forward and
// Model::resume are its public faces, and the only block implementation there is).
//
// Rows come in groups. A group's rows cover positions [first, P) of one prompt, and the token
// rows of every group are packed into one [tokens, d] matrix: each projection and the MLP of a
// block is ONE GEMM whatever the groups' start blocks and first positions, so a sweep's many
// short suffixes run as a few large GEMMs. Attention runs once per run of groups with the same
// first position; positions before `first` read their keys and values from a cached run of the
// same prompt (attention is causal: an edit at position p never changes an earlier position).
// Hooks belong to a group and see TransformerLens shapes of that group's rows, positions
// shifted by -first: [rows, P - first, ...]; scores/pattern [rows, h, P - first, P].
#include <cstdint>
#include <map>
#include <vector>

#include <ATen/ATen.h>

#include "model/config.h"
#include "model/hooks.h"
#include "model/tensor_parallel.h"
#include "model/weights.h"

namespace csweep::model {

struct BlockGroup {
  int64_t rows = 1;
  int64_t first = 0;        // first position run; > 0 reads earlier keys/values from the cached run
  int64_t start_layer = 0;  // first block run
  // > first: block start_layer runs only from attn.hook_z on, and only on positions
  // [first, attn_end), from the cached run's z and resid_pre (the group's edits there come after
  // attention, so nothing before hook_z changes, and no other position of that block does).
  int64_t attn_end = 0;
  at::Tensor
      start;  // [rows * (P - first), d]: resid_pre of start_layer; undefined: the cached run's
  Hooks* hooks = nullptr;
};

// Under tensor parallelism `config` is the rank's local_config and `weights` its slice: the
// block math runs on the rank's heads and neurons; `tp` adds the all-reduces and shows hooks of
// sharded sites the full tensor (the cached run holds full tensors; blocks read their part).
struct BlockRun {
  const ModelConfig& config;
  const Weights& weights;
  const TensorParallel& tp;
  int64_t seq;                                             // P
  at::Tensor mask;                                         // [P, P] additive causal mask
  at::Tensor cos, sin;                                     // [P, rotary_dim] (rotary models)
  const std::map<HookSite, at::Tensor>* cached = nullptr;  // a batch-1 run (see resume_sites)
  int64_t stop_layer = 0;  // blocks [min start_layer, stop_layer) run
  // Only each row's last position is wanted after the model's last block: that block computes
  // keys/values for every position but everything else for the last one alone (groups with
  // hooks in that block still run it whole).
  bool last_position_only = false;
  // at::scaled_dot_product_attention for every attention call whose groups hook neither
  // hook_attn_scores nor hook_pattern; the explicit softmax path otherwise.
  bool fused_attention = true;
  // Gemma 3: the mask and rotary tables of the layers config.local_layers marks.
  at::Tensor local_mask, local_cos, local_sin;
};

// Per group, the residual after block stop_layer - 1: [rows, P - first, d], or [rows, 1, d]
// (the last position) where last_position_only let the last block skip the other positions.
std::vector<at::Tensor> run_blocks(const BlockRun& run, const std::vector<BlockGroup>& groups);

}  // namespace csweep::model
