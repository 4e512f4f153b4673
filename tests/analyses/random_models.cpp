#include "random_models.h"
#include "tests/test_paths.h"

#include <ATen/CPUGeneratorImpl.h>

namespace csweep::analyses::testing {

namespace {

struct Draw {
  at::Generator gen;
  explicit Draw(uint64_t seed) : gen(at::detail::createCPUGenerator(seed)) {}
  at::Tensor normal(at::IntArrayRef shape, double std) {
    return at::randn(shape, gen, at::kFloat) * std;
  }
  at::Tensor norm_weight(int64_t d) { return 1.0 + normal({d}, 0.2); }
};

model::Weights random_weights(const model::ModelConfig& c, uint64_t seed) {
  Draw draw(seed);
  model::Weights w;
  const bool ln = c.norm == model::NormKind::LayerNorm;
  w.W_E = draw.normal({c.d_vocab, c.d_model}, 0.5);
  for (int64_t l = 0; l < c.n_layers; ++l) {
    model::LayerWeights lw;
    lw.ln1_w = draw.norm_weight(c.d_model);
    lw.ln2_w = draw.norm_weight(c.d_model);
    if (ln) {
      lw.ln1_b = draw.normal({c.d_model}, 0.1);
      lw.ln2_b = draw.normal({c.d_model}, 0.1);
    }
    lw.W_Q = draw.normal({c.d_q(), c.d_model}, 0.15);
    lw.W_K = draw.normal({c.d_kv(), c.d_model}, 0.15);
    lw.W_V = draw.normal({c.d_kv(), c.d_model}, 0.15);
    lw.W_O = draw.normal({c.d_model, c.d_q()}, 0.15);
    if (c.qkv_bias) {
      lw.b_Q = draw.normal({c.d_q()}, 0.1);
      lw.b_K = draw.normal({c.d_kv()}, 0.1);
      lw.b_V = draw.normal({c.d_kv()}, 0.1);
    }
    if (c.attn_out_bias) lw.b_O = draw.normal({c.d_model}, 0.1);
    lw.W_in = draw.normal({c.d_mlp, c.d_model}, 0.15);
    if (c.gated_mlp) lw.W_gate = draw.normal({c.d_mlp, c.d_model}, 0.15);
    lw.W_out = draw.normal({c.d_model, c.d_mlp}, 0.15);
    if (c.mlp_bias) {
      lw.b_in = draw.normal({c.d_mlp}, 0.1);
      lw.b_out = draw.normal({c.d_model}, 0.1);
    }
    if (c.qk_norm) {
      lw.q_norm_w = draw.norm_weight(c.d_head);
      lw.k_norm_w = draw.norm_weight(c.d_head);
    }
    w.layers.push_back(lw);
  }
  w.ln_final_w = draw.norm_weight(c.d_model);
  if (ln) w.ln_final_b = draw.normal({c.d_model}, 0.1);
  w.W_U = draw.normal({c.d_vocab, c.d_model}, 0.5);
  return w;
}

// The size every random model shares: 3 layers, d_model 64, 4 heads of 16, vocabulary 500.
model::ModelConfig small_config(model::Arch arch, const char* hf_architecture, int64_t n_kv_heads,
                                int64_t d_mlp, model::NormKind norm) {
  model::ModelConfig c;
  c.arch = arch;
  c.hf_architecture = hf_architecture;
  c.n_layers = 3;
  c.d_model = 64;
  c.n_heads = 4;
  c.n_kv_heads = n_kv_heads;
  c.d_head = 16;
  c.d_mlp = d_mlp;
  c.d_vocab = 500;
  c.n_ctx = 64;
  c.norm = norm;
  return c;
}

}  // namespace

std::shared_ptr<model::Model> random_neox(uint64_t seed) {
  model::ModelConfig c =
      small_config(model::Arch::GptNeoX, "GPTNeoXForCausalLM", 4, 256, model::NormKind::LayerNorm);
  c.activation = model::Activation::GeluErf;
  c.parallel_residual = true;
  c.qkv_bias = c.attn_out_bias = c.mlp_bias = true;
  c.rotary_dim = 4;  // rotary_pct 0.25
  c.attn_scale = 0.25;
  return std::make_shared<model::Model>(c, random_weights(c, seed), at::kFloat, at::kCPU);
}

namespace {

// Llama-shaped: RMSNorm, SwiGLU, rotary, grouped-query attention (4 query heads, 2 KV heads).
model::ModelConfig llama_config() {
  model::ModelConfig c =
      small_config(model::Arch::Llama, "LlamaForCausalLM", 2, 172, model::NormKind::RmsNorm);
  c.norm_eps = 1e-6;
  c.activation = model::Activation::Silu;
  c.gated_mlp = true;
  c.rotary_dim = 16;
  c.attn_scale = 0.25;
  return c;
}

std::shared_ptr<model::Model> with_random_weights(const model::ModelConfig& c, uint64_t seed) {
  return std::make_shared<model::Model>(c, random_weights(c, seed), at::kFloat, at::kCPU);
}

}  // namespace

std::shared_ptr<model::Model> random_llama(uint64_t seed) {
  return with_random_weights(llama_config(), seed);
}

std::shared_ptr<model::Model> random_mistral(uint64_t seed) {
  model::ModelConfig c = llama_config();
  c.arch = model::Arch::Mistral;
  c.hf_architecture = "MistralForCausalLM";
  c.sliding_window = 4;  // shorter than the test prompts, so the window cuts real keys
  return with_random_weights(c, seed);
}

std::shared_ptr<model::Model> random_qwen3(uint64_t seed) {
  model::ModelConfig c = llama_config();
  c.arch = model::Arch::Qwen3;
  c.hf_architecture = "Qwen3ForCausalLM";
  c.n_kv_heads = 1;  // multi-query: every query head shares one KV head
  c.qk_norm = true;
  return with_random_weights(c, seed);
}

const char* fixture_dir() {
  static const std::string dir = csweep::testing::shared_fixture("gpt2-tiny").string();
  return dir.c_str();
}

std::shared_ptr<model::Model> load_fixture_gpt2() { return model::Model::load(fixture_dir()); }

}  // namespace csweep::analyses::testing
