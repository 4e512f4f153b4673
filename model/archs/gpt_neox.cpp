// GPT-NeoX / Pythia (GPTNeoXForCausalLM). query_key_value is interleaved per head: row
// head*3*d_head + {q:0, k:1, v:2}*d_head + i, biases likewise. Untied embed_out by default.
#include "model/arch_table.h"

namespace csweep::model {
namespace {

// [heads, 3, d_head, ...] -> the q, k or v block as [heads*d_head, ...] (heads: the rank's).
at::Tensor deinterleave(const at::Tensor& fused, int64_t which, const ModelConfig& c) {
  const int64_t heads = fused.size(0) / (3 * c.d_head);
  std::vector<int64_t> shape{heads, 3, c.d_head};
  if (fused.dim() == 2) shape.push_back(fused.size(1));
  at::Tensor part = fused.view(shape).select(1, which);
  std::vector<int64_t> out{heads * c.d_head};
  if (fused.dim() == 2) out.push_back(fused.size(1));
  return part.reshape(out).contiguous();
}

Weights convert_gpt_neox(ArchTensors& t, const ModelConfig& c) {
  const int64_t d = c.d_model, m = c.d_mlp;
  using S = ArchTensors::Split;
  Weights w;
  w.W_E = t.get(Role::TokenEmbed, -1, {c.d_vocab, d});
  for (int64_t l = 0; l < c.n_layers; ++l) {
    LayerWeights lw;
    lw.ln1_w = t.get(Role::AttnNorm, l, {d});
    lw.ln1_b = t.get(Role::AttnNormBias, l, {d});
    // Interleaved per head: a rank's heads are one contiguous block of rows.
    at::Tensor qkv = t.get_split(Role::AttnQKV, l, {3 * d, d}, S::QHeads, 0, 0, 3 * c.d_head);
    lw.W_Q = deinterleave(qkv, 0, c);
    lw.W_K = deinterleave(qkv, 1, c);
    lw.W_V = deinterleave(qkv, 2, c);
    lw.W_O = t.get_split(Role::AttnOut, l, {d, d}, S::QHeads, 1);
    if (c.qkv_bias) {
      at::Tensor qkv_b = t.get_split(Role::AttnQKVBias, l, {3 * d}, S::QHeads, 0, 0, 3 * c.d_head);
      lw.b_Q = deinterleave(qkv_b, 0, c);
      lw.b_K = deinterleave(qkv_b, 1, c);
      lw.b_V = deinterleave(qkv_b, 2, c);
    }
    if (c.attn_out_bias) lw.b_O = t.get(Role::AttnOutBias, l, {d});
    lw.ln2_w = t.get(Role::FfnNorm, l, {d});
    lw.ln2_b = t.get(Role::FfnNormBias, l, {d});
    lw.W_in = t.get_split(Role::FfnUp, l, {m, d}, S::Neurons, 0);
    lw.b_in = t.get_split(Role::FfnUpBias, l, {m}, S::Neurons, 0);
    lw.W_out = t.get_split(Role::FfnDown, l, {d, m}, S::Neurons, 1);
    lw.b_out = t.get(Role::FfnDownBias, l, {d});
    w.layers.push_back(std::move(lw));
  }
  w.ln_final_w = t.get(Role::OutputNorm, -1, {d});
  w.ln_final_b = t.get(Role::OutputNormBias, -1, {d});
  if (c.tie_word_embeddings) {
    t.skip(Role::Output);
    w.W_U = w.W_E;
  } else {
    w.W_U = t.get(Role::Output, -1, {c.d_vocab, d});
  }
  return w;
}

}  // namespace

const ArchTable& gpt_neox_table() {
  static const ArchTable table{
      Arch::GptNeoX,
      "gpt_neox.",
      {
          {Role::TokenEmbed, "embed_in.weight", true},
          {Role::AttnNorm, "layers.{L}.input_layernorm.weight", true},
          {Role::AttnNormBias, "layers.{L}.input_layernorm.bias", true},
          {Role::AttnQKV, "layers.{L}.attention.query_key_value.weight", true},
          {Role::AttnQKVBias, "layers.{L}.attention.query_key_value.bias", true},
          {Role::AttnOut, "layers.{L}.attention.dense.weight", true},
          {Role::AttnOutBias, "layers.{L}.attention.dense.bias", true},
          {Role::FfnNorm, "layers.{L}.post_attention_layernorm.weight", true},
          {Role::FfnNormBias, "layers.{L}.post_attention_layernorm.bias", true},
          {Role::FfnUp, "layers.{L}.mlp.dense_h_to_4h.weight", true},
          {Role::FfnUpBias, "layers.{L}.mlp.dense_h_to_4h.bias", true},
          {Role::FfnDown, "layers.{L}.mlp.dense_4h_to_h.weight", true},
          {Role::FfnDownBias, "layers.{L}.mlp.dense_4h_to_h.bias", true},
          {Role::OutputNorm, "final_layer_norm.weight", true},
          {Role::OutputNormBias, "final_layer_norm.bias", true},
          {Role::Output, "embed_out.weight", false},
      },
      {".attention.bias", ".attention.masked_bias", ".rotary_emb.inv_freq"},
      convert_gpt_neox,
  };
  return table;
}

}  // namespace csweep::model
