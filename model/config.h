#pragma once
// The architecture-independent hyper-parameters of a checkpoint, read from a Hugging Face
// config.json. Torch-free: jobs/ and sharding/ validate and cost sweeps with it.
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace csweep::model {

enum class Arch { Gpt2, GptNeoX, Llama, Mistral, Qwen2, Qwen3, Gemma3 };
enum class NormKind { LayerNorm, RmsNorm };
enum class Activation { GeluTanh, GeluErf, Silu, Relu };

const char* arch_name(Arch arch);  // "gpt2", "gpt_neox", "llama", ... (HF model_type)

struct RopeScaling {
  std::string type;  // "" (none), "llama3" or "linear"
  double factor = 1.0;
  double low_freq_factor = 1.0;
  double high_freq_factor = 4.0;
  int64_t original_max_position_embeddings = 8192;
};

struct ModelConfig {
  std::filesystem::path config_path;  // for error messages
  Arch arch = Arch::Gpt2;
  std::string hf_architecture;  // e.g. "GPT2LMHeadModel"

  int64_t n_layers = 0;
  int64_t d_model = 0;
  int64_t n_heads = 0;
  int64_t n_kv_heads = 0;  // == n_heads without grouped-query attention
  int64_t d_head = 0;
  int64_t d_mlp = 0;
  int64_t d_vocab = 0;
  int64_t n_ctx = 0;  // maximum positions

  NormKind norm = NormKind::LayerNorm;
  double norm_eps = 1e-5;
  Activation activation = Activation::GeluTanh;
  bool gated_mlp = false;          // SwiGLU: down(act(gate(x)) * up(x))
  bool parallel_residual = false;  // NeoX: x + attn(ln1(x)) + mlp(ln2(x))
  bool tie_word_embeddings = false;
  bool qkv_bias = false;
  bool attn_out_bias = false;
  bool mlp_bias = false;
  bool qk_norm = false;            // Qwen3: RMSNorm over d_head on q and k before rotary
  bool learned_pos_embed = false;  // GPT-2's wpe
  int64_t rotary_dim = 0;          // 0: no rotary; NeoX: int(d_head * rotary_pct)
  double rope_theta = 10000.0;
  RopeScaling rope_scaling;
  int64_t sliding_window = 0;  // 0: full causal attention
  double attn_scale = 0.0;     // multiplies q·k; 1/sqrt(d_head) unless the arch says otherwise
  bool scale_attn_by_inverse_layer_idx = false;  // GPT-2 option: scores / (layer + 1)
  // Gemma 3: the layers marked here attend through a sliding window of local_window positions
  // with rotary base local_rope_theta and no rope scaling ("sliding_attention" in layer_types);
  // the others see every earlier position with rope_theta and rope_scaling. Empty: every layer
  // is alike (sliding_window above, Mistral-style, applies to all of them).
  std::vector<bool> local_layers;
  int64_t local_window = 0;
  double local_rope_theta = 10000.0;
  bool post_norms = false;         // Gemma 3: RMSNorm on the attention and MLP outputs (ln1_post,
                                   // ln2_post) before they join the residual stream
  double embed_scale = 1.0;        // Gemma: the token embedding times sqrt(d_model)
  double final_logit_softcap = 0;  // > 0: logits = cap * tanh(logits / cap)
  std::string torch_dtype;         // as stored ("float32", "bfloat16", ...), informational

  int64_t d_q() const { return n_heads * d_head; }
  int64_t d_kv() const { return n_kv_heads * d_head; }
  int64_t kv_group() const { return n_heads / n_kv_heads; }  // query heads per KV head
};

// Reads DIR/config.json. Throws csweep::Error "DIR/config.json: FIELD: reason" on anything
// missing, mistyped or unsupported.
ModelConfig load_model_config(const std::filesystem::path& dir);
ModelConfig parse_model_config(const nlohmann::json& json, const std::string& file_for_errors);

}  // namespace csweep::model
