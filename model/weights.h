#pragma once
// Canonical weights: every architecture converted into ONE layout, like TransformerLens's but
// with nn.Linear [out, in] matrices (at::linear computes x @ W.T + b). Undefined tensors for
// what an architecture lacks. Usable with autograd: the trainer may set requires_grad on them.
#include <vector>

#include <ATen/ATen.h>

namespace csweep::model {

struct LayerWeights {
  at::Tensor ln1_w, ln1_b;        // [d]; ln1_b only with LayerNorm
  at::Tensor W_Q, b_Q;            // [h*d_head, d], [h*d_head]
  at::Tensor W_K, b_K;            // [hkv*d_head, d], [hkv*d_head]
  at::Tensor W_V, b_V;            // [hkv*d_head, d], [hkv*d_head]
  at::Tensor W_O, b_O;            // [d, h*d_head], [d]
  at::Tensor q_norm_w, k_norm_w;  // [d_head] (Qwen3, Gemma 3)
  at::Tensor ln1_post_w;          // [d] (Gemma 3: RMSNorm of the attention output)
  at::Tensor ln2_w, ln2_b;        // [d]
  at::Tensor W_in, b_in;          // [d_mlp, d] (the up projection when gated), [d_mlp]
  at::Tensor W_gate;              // [d_mlp, d] (gated MLPs)
  at::Tensor W_out, b_out;        // [d, d_mlp], [d]
  at::Tensor ln2_post_w;          // [d] (Gemma 3: RMSNorm of the MLP output)
};

struct Weights {
  at::Tensor W_E;    // [vocab, d]
  at::Tensor W_pos;  // [n_ctx, d] (learned positions only)
  std::vector<LayerWeights> layers;
  at::Tensor ln_final_w, ln_final_b;  // [d]
  at::Tensor W_U, b_U;                // [vocab, d], [vocab]; W_U aliases W_E when tied

  // Every defined tensor with its canonical name ("W_E", "blocks.0.W_Q", ...), e.g. to set
  // requires_grad or to count parameters.
  std::vector<std::pair<std::string, at::Tensor*>> named();
};

}  // namespace csweep::model
