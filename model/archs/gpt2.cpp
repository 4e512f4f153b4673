// GPT-2 (GPT2LMHeadModel). Conv1D weights are [in, out] (y = x @ W + b): transposed into the
// canonical [out, in]. c_attn.weight [d, 3d] holds the columns [Q | K | V].
#include "model/arch_table.h"

namespace csweep::model {
namespace {

Weights convert_gpt2(ArchTensors& t, const ModelConfig& c) {
  const int64_t d = c.d_model, m = c.d_mlp;
  Weights w;
  w.W_E = t.get(Role::TokenEmbed, -1, {c.d_vocab, d});
  w.W_pos = t.get(Role::PosEmbed, -1, {c.n_ctx, d});
  for (int64_t l = 0; l < c.n_layers; ++l) {
    LayerWeights lw;
    lw.ln1_w = t.get(Role::AttnNorm, l, {d});
    lw.ln1_b = t.get(Role::AttnNormBias, l, {d});
    at::Tensor qkv = t.get(Role::AttnQKV, l, {d, 3 * d}).t().contiguous();  // [3d, d]
    at::Tensor qkv_b = t.get(Role::AttnQKVBias, l, {3 * d});
    auto rows = qkv.split(d, 0);
    auto bias = qkv_b.split(d, 0);
    lw.W_Q = rows[0].contiguous();
    lw.W_K = rows[1].contiguous();
    lw.W_V = rows[2].contiguous();
    lw.b_Q = bias[0].contiguous();
    lw.b_K = bias[1].contiguous();
    lw.b_V = bias[2].contiguous();
    lw.W_O = t.get(Role::AttnOut, l, {d, d}).t().contiguous();
    lw.b_O = t.get(Role::AttnOutBias, l, {d});
    lw.ln2_w = t.get(Role::FfnNorm, l, {d});
    lw.ln2_b = t.get(Role::FfnNormBias, l, {d});
    lw.W_in = t.get(Role::FfnUp, l, {d, m}).t().contiguous();
    lw.b_in = t.get(Role::FfnUpBias, l, {m});
    lw.W_out = t.get(Role::FfnDown, l, {m, d}).t().contiguous();
    lw.b_out = t.get(Role::FfnDownBias, l, {d});
    w.layers.push_back(std::move(lw));
  }
  w.ln_final_w = t.get(Role::OutputNorm, -1, {d});
  w.ln_final_b = t.get(Role::OutputNormBias, -1, {d});
  if (c.tie_word_embeddings) {
    t.skip(Role::Output);  // save_pretrained may write the tied copy anyway
    w.W_U = w.W_E;
  } else {
    w.W_U = t.get(Role::Output, -1, {c.d_vocab, d});
  }
  return w;
}

}  // namespace

const ArchTable& gpt2_table() {
  static const ArchTable table{
      Arch::Gpt2,
      "transformer.",
      {
          {Role::TokenEmbed, "wte.weight", true},
          {Role::PosEmbed, "wpe.weight", true},
          {Role::AttnNorm, "h.{L}.ln_1.weight", true},
          {Role::AttnNormBias, "h.{L}.ln_1.bias", true},
          {Role::AttnQKV, "h.{L}.attn.c_attn.weight", true},
          {Role::AttnQKVBias, "h.{L}.attn.c_attn.bias", true},
          {Role::AttnOut, "h.{L}.attn.c_proj.weight", true},
          {Role::AttnOutBias, "h.{L}.attn.c_proj.bias", true},
          {Role::FfnNorm, "h.{L}.ln_2.weight", true},
          {Role::FfnNormBias, "h.{L}.ln_2.bias", true},
          {Role::FfnUp, "h.{L}.mlp.c_fc.weight", true},
          {Role::FfnUpBias, "h.{L}.mlp.c_fc.bias", true},
          {Role::FfnDown, "h.{L}.mlp.c_proj.weight", true},
          {Role::FfnDownBias, "h.{L}.mlp.c_proj.bias", true},
          {Role::OutputNorm, "ln_f.weight", true},
          {Role::OutputNormBias, "ln_f.bias", true},
          {Role::Output, "lm_head.weight", false},
      },
      {".attn.bias", ".attn.masked_bias"},
      convert_gpt2,
  };
  return table;
}

}  // namespace csweep::model
