#pragma once
// The tensor-parallel group a model runs on (docs/tensor-parallel.md): the rank's partition of
// every layer, the one all-reduce of each row-parallel projection (W_O, W_out), and the moves
// between a sharded hook site's local part and its full TransformerLens tensor. Internal to
// model/. With one rank every call is the plain single-process computation.
#include <ATen/ATen.h>

#include "model/collective.h"
#include "model/config.h"
#include "model/hook_site.h"
#include "model/partition.h"
#include "model/weights.h"

namespace csweep::model {

class TensorParallel {
 public:
  // `group`: the ranks sharing the model (not owned; outlives the model); null: one rank.
  TensorParallel(Collective* group, const ModelConfig& config);

  bool active() const { return part_.size > 1; }
  const Partition& part() const { return part_; }
  Collective& group() const { return group_ ? *group_ : single_; }

  // x·Wᵀ summed over the group, then + b once: the row-parallel half of a Megatron pair (each
  // rank's W holds the input columns of its heads or neurons). at::linear(x, w, b) on one rank.
  at::Tensor row_parallel(const at::Tensor& x, const at::Tensor& w, const at::Tensor& b) const;
  // The sum over the group of every rank's `partial` (in place on a fresh tensor).
  at::Tensor all_reduce(const at::Tensor& partial) const;

  // A sharded site's activation with this rank's heads/neurons on axis `dim` -> every rank's,
  // in TransformerLens order (replicated KV heads appear once). Collective.
  at::Tensor gather(TpSplit split, const at::Tensor& local, int64_t dim) const;
  // The inverse: this rank's part of a full activation (a view).
  at::Tensor local_part(TpSplit split, const at::Tensor& full, int64_t dim) const;

 private:
  Collective* group_;
  mutable SingleRank single_;
  Partition part_;
  at::Tensor kv_pick_;  // per KV head of the model, its first copy in a gather (replicated KV)
};

// This rank's slice of canonical weights (the in-memory path; Model::load slices while it
// reads the checkpoint instead). Fresh tensors: the full weights can be dropped afterwards.
Weights shard_weights(const Weights& full, const ModelConfig& config, const Partition& part);

}  // namespace csweep::model
