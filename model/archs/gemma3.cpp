// Gemma 3 (Gemma3ForCausalLM): the Llama layout with q/k norms, a pre- and a post-norm around
// both the attention and the MLP (pre_feedforward_layernorm is the MLP's input norm,
// post_attention_layernorm the attention output's norm), GeGLU and tied embeddings. Every one of
// its RMSNorms scales by (1 + weight): the 1 is folded into the canonical weights here, as
// TransformerLens does, so hooks and the norm code see plain RMSNorm weights. The sum is taken
// in float32, as Gemma3RMSNorm computes it (exact in a float32 run; a bfloat16 run has the weight
// rounded once before the sum and once after).
#include "model/arch_table.h"

namespace csweep::model {
namespace {

std::vector<TensorName> gemma3_names() {
  std::vector<TensorName> names;
  for (const TensorName& n : llama_family_names(true))
    if (n.role != Role::FfnNorm) names.push_back(n);
  names.push_back({Role::FfnNorm, "layers.{L}.pre_feedforward_layernorm.weight", true});
  names.push_back({Role::AttnPostNorm, "layers.{L}.post_attention_layernorm.weight", true});
  names.push_back({Role::FfnPostNorm, "layers.{L}.post_feedforward_layernorm.weight", true});
  return names;
}

at::Tensor plus_one(const at::Tensor& w, c10::ScalarType dtype) {
  return (w.to(at::kFloat) + 1.0).to(dtype);
}

Weights convert_gemma3(ArchTensors& t, const ModelConfig& c) {
  Weights w = convert_llama_family(t, c);
  const at::ScalarType dtype = t.dtype();
  for (int64_t l = 0; l < c.n_layers; ++l) {
    LayerWeights& lw = w.layers[static_cast<size_t>(l)];
    for (at::Tensor* norm : {&lw.ln1_w, &lw.ln2_w, &lw.q_norm_w, &lw.k_norm_w})
      *norm = plus_one(*norm, dtype);
    lw.ln1_post_w = plus_one(t.get(Role::AttnPostNorm, l, {c.d_model}), dtype);
    lw.ln2_post_w = plus_one(t.get(Role::FfnPostNorm, l, {c.d_model}), dtype);
  }
  w.ln_final_w = plus_one(w.ln_final_w, dtype);
  return w;
}

}  // namespace

const ArchTable& gemma3_table() {
  static const ArchTable table{
      Arch::Gemma3, "model.", gemma3_names(), {".rotary_emb.inv_freq"}, convert_gemma3};
  return table;
}

}  // namespace csweep::model
