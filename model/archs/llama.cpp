// Llama (LlamaForCausalLM) and Mistral (MistralForCausalLM): nn.Linear [out, in] throughout,
// so the conversion is a rename. Qwen2 and Qwen3 reuse convert_llama_family with their tables.
#include "model/arch_table.h"

#include "common/error.h"

namespace csweep::model {

Weights convert_llama_family(ArchTensors& t, const ModelConfig& c) {
  const int64_t d = c.d_model, m = c.d_mlp, dq = c.d_q(), dkv = c.d_kv();
  // HF's gate_proj carries a bias too when mlp_bias is set; canonical weights have no
  // b_gate, so such checkpoints are refused rather than computed wrong.
  if (c.mlp_bias) throw error_at(c.config_path.string(), "mlp_bias", "true is not supported");
  using S = ArchTensors::Split;
  Weights w;
  w.W_E = t.get(Role::TokenEmbed, -1, {c.d_vocab, d});
  for (int64_t l = 0; l < c.n_layers; ++l) {
    LayerWeights lw;
    lw.ln1_w = t.get(Role::AttnNorm, l, {d});
    lw.W_Q = t.get_split(Role::AttnQ, l, {dq, d}, S::QHeads, 0);
    lw.W_K = t.get_split(Role::AttnK, l, {dkv, d}, S::KvHeads, 0);
    lw.W_V = t.get_split(Role::AttnV, l, {dkv, d}, S::KvHeads, 0);
    if (c.qkv_bias) {
      lw.b_Q = t.get_split(Role::AttnQBias, l, {dq}, S::QHeads, 0);
      lw.b_K = t.get_split(Role::AttnKBias, l, {dkv}, S::KvHeads, 0);
      lw.b_V = t.get_split(Role::AttnVBias, l, {dkv}, S::KvHeads, 0);
    }
    if (c.qk_norm) {
      lw.q_norm_w = t.get(Role::AttnQNorm, l, {c.d_head});
      lw.k_norm_w = t.get(Role::AttnKNorm, l, {c.d_head});
    }
    lw.W_O = t.get_split(Role::AttnOut, l, {d, dq}, S::QHeads, 1);
    if (c.attn_out_bias) lw.b_O = t.get(Role::AttnOutBias, l, {d});
    lw.ln2_w = t.get(Role::FfnNorm, l, {d});
    lw.W_gate = t.get_split(Role::FfnGate, l, {m, d}, S::Neurons, 0);
    lw.W_in = t.get_split(Role::FfnUp, l, {m, d}, S::Neurons, 0);
    lw.W_out = t.get_split(Role::FfnDown, l, {d, m}, S::Neurons, 1);
    w.layers.push_back(std::move(lw));
  }
  w.ln_final_w = t.get(Role::OutputNorm, -1, {d});
  if (c.tie_word_embeddings) {
    t.skip(Role::Output);  // tied: HF uses embed_tokens even if a copy was saved
    w.W_U = w.W_E;
  } else {
    w.W_U = t.get(Role::Output, -1, {c.d_vocab, d});
  }
  return w;
}

namespace {

std::vector<TensorName> llama_names(bool qk_norm) {
  std::vector<TensorName> names{
      {Role::TokenEmbed, "embed_tokens.weight", true},
      {Role::AttnNorm, "layers.{L}.input_layernorm.weight", true},
      {Role::AttnQ, "layers.{L}.self_attn.q_proj.weight", true},
      {Role::AttnQBias, "layers.{L}.self_attn.q_proj.bias", true},
      {Role::AttnK, "layers.{L}.self_attn.k_proj.weight", true},
      {Role::AttnKBias, "layers.{L}.self_attn.k_proj.bias", true},
      {Role::AttnV, "layers.{L}.self_attn.v_proj.weight", true},
      {Role::AttnVBias, "layers.{L}.self_attn.v_proj.bias", true},
      {Role::AttnOut, "layers.{L}.self_attn.o_proj.weight", true},
      {Role::AttnOutBias, "layers.{L}.self_attn.o_proj.bias", true},
      {Role::FfnNorm, "layers.{L}.post_attention_layernorm.weight", true},
      {Role::FfnGate, "layers.{L}.mlp.gate_proj.weight", true},
      {Role::FfnUp, "layers.{L}.mlp.up_proj.weight", true},
      {Role::FfnDown, "layers.{L}.mlp.down_proj.weight", true},
      {Role::OutputNorm, "norm.weight", true},
      {Role::Output, "lm_head.weight", false},
  };
  if (qk_norm) {
    names.push_back({Role::AttnQNorm, "layers.{L}.self_attn.q_norm.weight", true});
    names.push_back({Role::AttnKNorm, "layers.{L}.self_attn.k_norm.weight", true});
  }
  return names;
}

}  // namespace

const ArchTable& llama_table() {
  static const ArchTable table{
      Arch::Llama, "model.", llama_names(false), {".rotary_emb.inv_freq"}, convert_llama_family};
  return table;
}

const ArchTable& mistral_table() {
  static const ArchTable table{
      Arch::Mistral, "model.", llama_names(false), {".rotary_emb.inv_freq"}, convert_llama_family};
  return table;
}

std::vector<TensorName> llama_family_names(bool qk_norm) { return llama_names(qk_norm); }

}  // namespace csweep::model
