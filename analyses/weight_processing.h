#pragma once
// TransformerLens's weight processing, as an option. By default weights are used exactly as
// stored (TL's from_pretrained_no_processing: logits identical to Hugging Face). Switching it
// on reproduces the numbers of a TransformerLens user's default HookedTransformer.from_pretrained
// for the analyses that depend on it (zero-ablation of z, direct logit attribution); patching
// and mean-ablation are unchanged.
#include "model/model.h"

namespace csweep::analyses {

struct WeightProcessing {
  bool fold_ln = true;                 // norm weights/biases into the following matrices
  bool center_writing_weights = true;  // LayerNorm models: zero-mean rows written to the residual
  bool center_unembed = true;          // logits shifted by a per-position constant
  bool fold_value_biases = true;       // b_V through W_O into b_O (heads lose the constant)
  static WeightProcessing none() { return {false, false, false, false}; }
};

// Rewrites the model's canonical weights in place (out-of-place tensors: tied W_U/W_E and
// other holders of the old tensors are untouched). Same order as TransformerLens. Under tensor
// parallelism each rank processes its slice and b_V's fold sums over the group's heads: every
// rank of the group calls it (it is collective).
void process_weights(model::Model& model, const WeightProcessing& options = {});

}  // namespace csweep::analyses
