#pragma once
// Every attention head's weights of one layer, also under tensor parallelism, where
// Model::weights() holds only the rank's heads: what analyses that read weights per head
// (direct logit attribution's W_O, weight norms, weight circuits) compute from.
#include "model/model.h"

namespace csweep::model {

// `layer` (one of model.weights().layers, or a copy of it with the same partition, e.g. after
// weight processing) with W_Q, b_Q, W_K, b_K, W_V, b_V and W_O holding every head in model
// order (a replicated KV head appears once), plus the replicated attention-side tensors (ln1,
// q/k norms, b_O). The MLP's tensors are left undefined: they are the rank's neurons only.
// On one rank: the same tensors, no copy. Under tensor parallelism: all-gathers, so it is
// collective — every rank calls it for the same layer, in the same order.
LayerWeights all_heads(const Model& model, const LayerWeights& layer);

}  // namespace csweep::model
