#include <cmath>
#include <limits>

#include "model/layers.h"

namespace csweep::model {

at::Tensor causal_mask(const ModelConfig& c, int64_t seq, c10::ScalarType dtype, c10::Device device) {
  at::Tensor i = at::arange(seq, at::TensorOptions().dtype(at::kLong)).unsqueeze(1);  // query
  at::Tensor j = at::arange(seq, at::TensorOptions().dtype(at::kLong)).unsqueeze(0);  // key
  at::Tensor allowed = j <= i;
  // Mistral's window: each query sees itself and the sliding_window - 1 keys before it.
  if (c.sliding_window > 0) allowed = allowed.logical_and((i - j) < c.sliding_window);
  at::Tensor mask = at::zeros({seq, seq}, at::TensorOptions().dtype(at::kFloat));
  mask.masked_fill_(allowed.logical_not(), -std::numeric_limits<float>::infinity());
  return mask.to(device, dtype);
}

at::Tensor attention(const at::Tensor& x, const LayerWeights& w, const ModelConfig& c, int64_t layer,
                     const at::Tensor& mask, const at::Tensor& cos, const at::Tensor& sin, Hooks* hooks) {
  const int64_t b = x.size(0), p = x.size(1), h = c.n_heads, hkv = c.n_kv_heads, dh = c.d_head;
  at::Tensor q = at::linear(x, w.W_Q, w.b_Q).view({b, p, h, dh});
  at::Tensor k = at::linear(x, w.W_K, w.b_K).view({b, p, hkv, dh});
  at::Tensor v = at::linear(x, w.W_V, w.b_V).view({b, p, hkv, dh});
  // Qwen3 normalizes each head before rotary; hook_q/hook_k show the normalized heads.
  if (w.q_norm_w.defined()) q = rms_norm(q, w.q_norm_w, c.norm_eps);
  if (w.k_norm_w.defined()) k = rms_norm(k, w.k_norm_w, c.norm_eps);
  visit(hooks, HookPoint::AttnQ, layer, q);
  visit(hooks, HookPoint::AttnK, layer, k);
  visit(hooks, HookPoint::AttnV, layer, v);
  if (c.rotary_dim > 0) {
    q = apply_rotary(q, cos, sin);
    k = apply_rotary(k, cos, sin);
    visit(hooks, HookPoint::AttnRotQ, layer, q);
    visit(hooks, HookPoint::AttnRotK, layer, k);
  }
  at::Tensor qt = q.transpose(1, 2);  // [b, h, p, dh]
  at::Tensor kt = k.transpose(1, 2);  // [b, hkv, p, dh]
  at::Tensor vt = v.transpose(1, 2);
  if (hkv != h) {  // grouped-query attention: query head i reads kv head i / (h / hkv)
    kt = kt.repeat_interleave(h / hkv, 1);
    vt = vt.repeat_interleave(h / hkv, 1);
  }
  double scale = c.attn_scale;
  if (c.scale_attn_by_inverse_layer_idx) scale /= double(layer + 1);
  at::Tensor scores = at::matmul(qt, kt.transpose(2, 3));  // [b, h, q_pos, k_pos]
  scores.mul_(scale).add_(mask);
  visit(hooks, HookPoint::AttnScores, layer, scores);
  at::Tensor pattern = at::softmax(scores, -1);
  visit(hooks, HookPoint::AttnPattern, layer, pattern);
  at::Tensor z = at::matmul(pattern, vt).transpose(1, 2);  // [b, p, h, dh]
  visit(hooks, HookPoint::AttnZ, layer, z);
  at::Tensor out = at::linear(z.reshape({b, p, h * dh}), w.W_O, w.b_O);
  visit(hooks, HookPoint::AttnOut, layer, out);
  return out;
}

}  // namespace csweep::model
