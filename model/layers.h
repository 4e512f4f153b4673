#pragma once
// The small pieces of the forward (norms, rotary, masks) as plain functions; blocks.cpp
// assembles them. Each visits its hook sites in TransformerLens order; `hooks` may be null.
// Internal to model/.
#include <ATen/ATen.h>

#include "model/config.h"
#include "model/hooks.h"
#include "model/weights.h"

namespace csweep::model {

// Runs the hooks of one site if any are set: one flag lookup when none are.
inline void visit(Hooks* hooks, HookPoint point, int64_t layer, at::Tensor& x) {
  if (!hooks) return;
  HookSite site{point, layer};
  if (hooks->active(site)) hooks->run(site, x);
}

// LayerNorm (w, b) or RMSNorm (w only), computed in fp32 and cast back to x's dtype. The
// scale/normalized sites follow TransformerLens: LayerNorm's hook_normalized is after w and b,
// RMSNorm's is before w.
at::Tensor norm(const at::Tensor& x, const at::Tensor& w, const at::Tensor& b, const ModelConfig& c,
                Hooks* hooks, HookPoint scale_point, HookPoint normalized_point, int64_t layer);
// Final logit softcapping (Gemma), cap * tanh(logits / cap), when the config sets a cap;
// elementwise, so it applies to a selection of vocabulary columns too.
inline at::Tensor softcap_logits(const at::Tensor& logits, const ModelConfig& c) {
  if (c.final_logit_softcap <= 0) return logits;
  return at::tanh(logits / c.final_logit_softcap) * c.final_logit_softcap;
}

// RMSNorm over the last axis without hooks (Qwen3's per-head q/k norms).
at::Tensor rms_norm(const at::Tensor& x, const at::Tensor& w, double eps);

// cos/sin tables [seq, rotary_dim] (fp32 math, cast to dtype) with llama3/linear rope scaling.
void rotary_tables(const ModelConfig& c, int64_t seq, c10::ScalarType dtype, c10::Device device,
                   at::Tensor* cos, at::Tensor* sin);
// rotate_half rotary on the first cos.size(1) dims of x [b, p, heads, d_head].
at::Tensor apply_rotary(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin);

// Additive causal mask [seq, seq] (sliding window when c.sliding_window > 0).
at::Tensor causal_mask(const ModelConfig& c, int64_t seq, c10::ScalarType dtype,
                       c10::Device device);

}  // namespace csweep::model
