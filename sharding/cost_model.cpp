#include "sharding/cost_model.h"

#include "model/weight_dtype.h"
#include "sharding/plan.h"

namespace csweep::sharding {

int64_t dtype_bytes(const std::string& dtype) {
  return static_cast<int64_t>(model::dtype_size(model::weight_dtype(dtype, "model.dtype")));
}

double block_flops_per_token(const model::ModelConfig& c, int64_t tokens) {
  double d = static_cast<double>(c.d_model);
  double projections = 2.0 * d * static_cast<double>(c.d_q() + 2 * c.d_kv()) +
                       2.0 * static_cast<double>(c.d_q()) * d;
  // q·k and pattern·v over the causal prefix: on average (tokens + 1) / 2 keys per query.
  double mixing = 4.0 * (static_cast<double>(tokens) + 1.0) / 2.0 * static_cast<double>(c.d_q());
  double mlp = 2.0 * d * static_cast<double>(c.d_mlp) * (c.gated_mlp ? 3.0 : 2.0);
  return projections + mixing + mlp;
}

double forward_flops(const model::ModelConfig& c, int64_t tokens, int64_t start_layer,
                     int64_t rows) {
  double layers = static_cast<double>(c.n_layers - start_layer);
  double body = static_cast<double>(tokens) * layers * block_flops_per_token(c, tokens);
  double unembed = 2.0 * static_cast<double>(c.d_model) * static_cast<double>(c.d_vocab);
  return static_cast<double>(rows) * (body + unembed);
}

uint64_t weight_bytes(const model::ModelConfig& c, int64_t bytes_per_value) {
  int64_t d = c.d_model;
  int64_t params = c.d_vocab * d + (c.learned_pos_embed ? c.n_ctx * d : 0);
  int64_t per_layer =
      d * (c.d_q() + 2 * c.d_kv()) + c.d_q() * d + (c.gated_mlp ? 3 : 2) * d * c.d_mlp + 4 * d;
  if (c.qkv_bias) per_layer += c.d_q() + 2 * c.d_kv();
  if (c.attn_out_bias) per_layer += d;
  if (c.mlp_bias) per_layer += c.d_mlp + d;
  params += c.n_layers * per_layer + 2 * d;
  if (!c.tie_word_embeddings) params += c.d_vocab * d;
  return static_cast<uint64_t>(params * bytes_per_value);
}

uint64_t row_bytes(const model::ModelConfig& c, int64_t tokens, int64_t bytes_per_value) {
  int64_t per_token = 6 * c.d_model + c.d_q() + 2 * c.d_kv() + 3 * c.d_mlp;
  int64_t values = tokens * per_token + 2 * c.n_heads * tokens * tokens + 2 * c.d_vocab;
  return static_cast<uint64_t>(values * bytes_per_value);
}

uint64_t run_cache_bytes(const model::ModelConfig& c, int64_t tokens, int64_t bytes_per_value) {
  int64_t per_layer_token = 3 * c.d_model + c.d_q() + 2 * c.d_kv() + c.d_q();
  return static_cast<uint64_t>(c.n_layers * tokens * per_layer_token * bytes_per_value);
}

}  // namespace csweep::sharding
