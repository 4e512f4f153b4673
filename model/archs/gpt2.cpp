// GPT-2 (GPT2LMHeadModel). Conv1D weights are [in, out] (y = x @ W + b): transposed into the
// canonical [out, in]. c_attn.weight [d, 3d] holds the columns [Q | K | V].
#include "model/arch_table.h"

namespace csweep::model {
namespace {

Weights convert_gpt2(ArchTensors& t, const ModelConfig& c) {
  const int64_t d = c.d_model, m = c.d_mlp;
  using S = ArchTensors::Split;
  Weights w;
  w.W_E = t.get(Role::TokenEmbed, -1, {c.d_vocab, d});
  w.W_pos = t.get(Role::PosEmbed, -1, {c.n_ctx, d});
  for (int64_t l = 0; l < c.n_layers; ++l) {
    LayerWeights lw;
    lw.ln1_w = t.get(Role::AttnNorm, l, {d});
    lw.ln1_b = t.get(Role::AttnNormBias, l, {d});
    // Q, K and V columns of c_attn (a tensor-parallel rank reads its heads' columns of each).
    auto qkv = [&](Role role, std::vector<int64_t> shape, int64_t which) {
      return t.get_split(role, l, shape, which == 0 ? S::QHeads : S::KvHeads,
                         static_cast<int64_t>(shape.size()) - 1, which * d);
    };
    lw.W_Q = qkv(Role::AttnQKV, {d, 3 * d}, 0).t().contiguous();
    lw.W_K = qkv(Role::AttnQKV, {d, 3 * d}, 1).t().contiguous();
    lw.W_V = qkv(Role::AttnQKV, {d, 3 * d}, 2).t().contiguous();
    lw.b_Q = qkv(Role::AttnQKVBias, {3 * d}, 0);
    lw.b_K = qkv(Role::AttnQKVBias, {3 * d}, 1);
    lw.b_V = qkv(Role::AttnQKVBias, {3 * d}, 2);
    lw.W_O = t.get_split(Role::AttnOut, l, {d, d}, S::QHeads, 0).t().contiguous();
    lw.b_O = t.get(Role::AttnOutBias, l, {d});
    lw.ln2_w = t.get(Role::FfnNorm, l, {d});
    lw.ln2_b = t.get(Role::FfnNormBias, l, {d});
    lw.W_in = t.get_split(Role::FfnUp, l, {d, m}, S::Neurons, 1).t().contiguous();
    lw.b_in = t.get_split(Role::FfnUpBias, l, {m}, S::Neurons, 0);
    lw.W_out = t.get_split(Role::FfnDown, l, {m, d}, S::Neurons, 0).t().contiguous();
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
