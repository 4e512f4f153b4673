#include "model/config.h"

#include <cmath>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "common/error.h"

namespace csweep::model {
namespace {

using nlohmann::json;

// Reads typed fields out of config.json with errors that name the file and key.
class Fields {
 public:
  Fields(const json& j, std::string file) : j_(j), file_(std::move(file)) {}

  bool has(const char* key) const { return j_.contains(key) && !j_.at(key).is_null(); }

  int64_t integer(const char* key) const {
    if (!has(key)) throw error_at(file_, key, "missing (required for this architecture)");
    return integer_or(key, 0);
  }
  int64_t integer_or(const char* key, int64_t fallback) const {
    if (!has(key)) return fallback;
    const json& v = j_.at(key);
    if (!v.is_number_integer()) throw error_at(file_, key, "expected an integer, got " + v.dump());
    int64_t x = v.get<int64_t>();
    if (x <= 0) throw error_at(file_, key, "must be positive, got " + std::to_string(x));
    return x;
  }
  double number_or(const char* key, double fallback) const {
    if (!has(key)) return fallback;
    const json& v = j_.at(key);
    if (!v.is_number()) throw error_at(file_, key, "expected a number, got " + v.dump());
    return v.get<double>();
  }
  bool boolean_or(const char* key, bool fallback) const {
    if (!has(key)) return fallback;
    const json& v = j_.at(key);
    if (!v.is_boolean()) throw error_at(file_, key, "expected true or false, got " + v.dump());
    return v.get<bool>();
  }
  std::string string_or(const char* key, const std::string& fallback) const {
    if (!has(key)) return fallback;
    const json& v = j_.at(key);
    if (!v.is_string()) throw error_at(file_, key, "expected a string, got " + v.dump());
    return v.get<std::string>();
  }
  const json& raw(const char* key) const { return j_.at(key); }
  const std::string& file() const { return file_; }

 private:
  const json& j_;
  std::string file_;
};

Activation parse_activation(const Fields& f, const char* key, const std::string& fallback) {
  std::string a = f.string_or(key, fallback);
  if (a == "gelu_new" || a == "gelu_pytorch_tanh" || a == "gelu_fast") return Activation::GeluTanh;
  if (a == "gelu") return Activation::GeluErf;
  if (a == "silu" || a == "swish") return Activation::Silu;
  if (a == "relu") return Activation::Relu;
  throw error_at(f.file(), key, "unsupported activation '" + a + "'");
}

Arch detect_arch(const Fields& f) {
  std::string arch_name;
  if (f.has("architectures")) {
    const json& a = f.raw("architectures");
    if (!a.is_array() || a.empty() || !a[0].is_string())
      throw error_at(f.file(), "architectures", "expected a non-empty list of strings");
    arch_name = a[0].get<std::string>();
  }
  std::string type = f.string_or("model_type", "");
  if (arch_name == "GPT2LMHeadModel" || type == "gpt2") return Arch::Gpt2;
  if (arch_name == "GPTNeoXForCausalLM" || type == "gpt_neox") return Arch::GptNeoX;
  if (arch_name == "LlamaForCausalLM" || type == "llama") return Arch::Llama;
  if (arch_name == "MistralForCausalLM" || type == "mistral") return Arch::Mistral;
  if (arch_name == "Qwen2ForCausalLM" || type == "qwen2") return Arch::Qwen2;
  if (arch_name == "Qwen3ForCausalLM" || type == "qwen3") return Arch::Qwen3;
  throw error_at(f.file(), arch_name.empty() ? "model_type" : "architectures",
                 "unsupported architecture '" + (arch_name.empty() ? type : arch_name) +
                     "' (supported: GPT2LMHeadModel, GPTNeoXForCausalLM, LlamaForCausalLM, "
                     "MistralForCausalLM, Qwen2ForCausalLM, Qwen3ForCausalLM)");
}

void parse_gpt2(const Fields& f, ModelConfig& c) {
  c.n_layers = f.integer("n_layer");
  c.d_model = f.integer("n_embd");
  c.n_heads = f.integer("n_head");
  c.n_kv_heads = c.n_heads;
  c.d_mlp = f.integer_or("n_inner", 4 * c.d_model);
  c.d_vocab = f.integer("vocab_size");
  c.n_ctx = f.integer_or("n_positions", f.integer_or("n_ctx", 1024));
  c.norm = NormKind::LayerNorm;
  c.norm_eps = f.number_or("layer_norm_epsilon", 1e-5);
  c.activation = parse_activation(f, "activation_function", "gelu_new");
  c.tie_word_embeddings = f.boolean_or("tie_word_embeddings", true);
  c.qkv_bias = c.attn_out_bias = c.mlp_bias = true;
  c.learned_pos_embed = true;
  c.scale_attn_by_inverse_layer_idx = f.boolean_or("scale_attn_by_inverse_layer_idx", false);
  if (c.d_model % c.n_heads != 0) throw error_at(f.file(), "n_embd", "not divisible by n_head");
  c.d_head = c.d_model / c.n_heads;
  c.attn_scale = f.boolean_or("scale_attn_weights", true) ? 1.0 / std::sqrt(double(c.d_head)) : 1.0;
}

void parse_neox(const Fields& f, ModelConfig& c) {
  c.n_layers = f.integer("num_hidden_layers");
  c.d_model = f.integer("hidden_size");
  c.n_heads = f.integer("num_attention_heads");
  c.n_kv_heads = c.n_heads;
  c.d_mlp = f.integer("intermediate_size");
  c.d_vocab = f.integer("vocab_size");
  c.n_ctx = f.integer_or("max_position_embeddings", 2048);
  c.norm = NormKind::LayerNorm;
  c.norm_eps = f.number_or("layer_norm_eps", 1e-5);
  c.activation = parse_activation(f, "hidden_act", "gelu");
  c.parallel_residual = f.boolean_or("use_parallel_residual", true);
  c.tie_word_embeddings = f.boolean_or("tie_word_embeddings", false);
  c.qkv_bias = c.attn_out_bias = f.boolean_or("attention_bias", true);
  c.mlp_bias = true;
  if (c.d_model % c.n_heads != 0) throw error_at(f.file(), "hidden_size", "not divisible by num_attention_heads");
  c.d_head = c.d_model / c.n_heads;
  double pct = f.number_or("rotary_pct", f.number_or("partial_rotary_factor", 0.25));
  if (pct <= 0 || pct > 1) throw error_at(f.file(), "rotary_pct", "must be in (0, 1]");
  c.rotary_dim = int64_t(double(c.d_head) * pct);
  c.rope_theta = f.number_or("rotary_emb_base", f.number_or("rope_theta", 10000.0));
  c.attn_scale = 1.0 / std::sqrt(double(c.d_head));
}

void parse_rope_scaling(const Fields& f, ModelConfig& c) {
  if (!f.has("rope_scaling")) return;
  const json& rs = f.raw("rope_scaling");
  if (!rs.is_object()) throw error_at(f.file(), "rope_scaling", "expected an object or null");
  Fields r(rs, f.file());
  std::string type = r.string_or("rope_type", r.string_or("type", ""));
  if (type == "default" || type.empty()) return;
  if (type != "llama3" && type != "linear")
    throw error_at(f.file(), "rope_scaling.rope_type", "unsupported '" + type + "' (supported: llama3, linear)");
  c.rope_scaling.type = type;
  c.rope_scaling.factor = r.number_or("factor", 1.0);
  c.rope_scaling.low_freq_factor = r.number_or("low_freq_factor", 1.0);
  c.rope_scaling.high_freq_factor = r.number_or("high_freq_factor", 4.0);
  c.rope_scaling.original_max_position_embeddings = r.integer_or("original_max_position_embeddings", 8192);
}

// Llama, Mistral, Qwen2 and Qwen3 share one config vocabulary.
void parse_llama_family(const Fields& f, ModelConfig& c) {
  c.n_layers = f.integer("num_hidden_layers");
  c.d_model = f.integer("hidden_size");
  c.n_heads = f.integer("num_attention_heads");
  c.n_kv_heads = f.integer_or("num_key_value_heads", c.n_heads);
  if (c.n_heads % c.n_kv_heads != 0)
    throw error_at(f.file(), "num_key_value_heads", "must divide num_attention_heads");
  c.d_mlp = f.integer("intermediate_size");
  c.d_vocab = f.integer("vocab_size");
  c.n_ctx = f.integer_or("max_position_embeddings", 2048);
  c.norm = NormKind::RmsNorm;
  c.norm_eps = f.number_or("rms_norm_eps", 1e-6);
  c.activation = parse_activation(f, "hidden_act", "silu");
  c.gated_mlp = true;
  c.tie_word_embeddings = f.boolean_or("tie_word_embeddings", false);
  if (f.has("head_dim")) {
    c.d_head = f.integer("head_dim");
  } else {
    if (c.d_model % c.n_heads != 0) throw error_at(f.file(), "hidden_size", "not divisible by num_attention_heads");
    c.d_head = c.d_model / c.n_heads;
  }
  c.rotary_dim = c.d_head;
  c.rope_theta = f.number_or("rope_theta", 10000.0);
  parse_rope_scaling(f, c);
  c.attn_scale = 1.0 / std::sqrt(double(c.d_head));
  switch (c.arch) {
    case Arch::Llama:
      c.qkv_bias = c.attn_out_bias = f.boolean_or("attention_bias", false);
      c.mlp_bias = f.boolean_or("mlp_bias", false);
      break;
    case Arch::Mistral:
      c.sliding_window = f.has("sliding_window") ? f.integer("sliding_window") : 0;
      break;
    case Arch::Qwen2:
      c.qkv_bias = true;
      if (f.boolean_or("use_sliding_window", false)) c.sliding_window = f.integer_or("sliding_window", 0);
      break;
    case Arch::Qwen3:
      c.qkv_bias = c.attn_out_bias = f.boolean_or("attention_bias", false);
      c.qk_norm = true;
      if (f.boolean_or("use_sliding_window", false)) c.sliding_window = f.integer_or("sliding_window", 0);
      break;
    default:
      break;
  }
}

}  // namespace

const char* arch_name(Arch arch) {
  switch (arch) {
    case Arch::Gpt2: return "gpt2";
    case Arch::GptNeoX: return "gpt_neox";
    case Arch::Llama: return "llama";
    case Arch::Mistral: return "mistral";
    case Arch::Qwen2: return "qwen2";
    case Arch::Qwen3: return "qwen3";
  }
  return "unknown";
}

ModelConfig parse_model_config(const nlohmann::json& j, const std::string& file) {
  if (!j.is_object()) throw error_at(file, "", "expected a JSON object");
  Fields f(j, file);
  ModelConfig c;
  c.config_path = file;
  c.arch = detect_arch(f);
  if (f.has("architectures")) c.hf_architecture = f.raw("architectures")[0].get<std::string>();
  c.torch_dtype = f.string_or("torch_dtype", "");
  switch (c.arch) {
    case Arch::Gpt2: parse_gpt2(f, c); break;
    case Arch::GptNeoX: parse_neox(f, c); break;
    default: parse_llama_family(f, c); break;
  }
  return c;
}

ModelConfig load_model_config(const std::filesystem::path& dir) {
  std::filesystem::path path = dir / "config.json";
  std::ifstream in(path);
  if (!in) throw error_at(path.string(), "", "cannot open (is this a Hugging Face checkpoint folder?)");
  std::stringstream text;
  text << in.rdbuf();
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(text.str());
  } catch (const nlohmann::json::parse_error& e) {
    throw error_at(path.string(), "", std::string("malformed JSON: ") + e.what());
  }
  return parse_model_config(j, path.string());
}

}  // namespace csweep::model
