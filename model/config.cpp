#include "model/config.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "common/error.h"

namespace csweep::model {
namespace {

using nlohmann::json;

// Sizes from config.json size tensors, grids and plans, so each is bounded when it is read:
// far above any released model, far below what would overflow or exhaust memory. An absurd or
// corrupt value is then a one-line error naming the key instead of an allocation.
constexpr int64_t kMaxLayers = 4096;
constexpr int64_t kMaxWidth = int64_t(1) << 20;  // hidden size, MLP size, head size
constexpr int64_t kMaxHeads = int64_t(1) << 14;
constexpr int64_t kMaxVocab = int64_t(1) << 24;
constexpr int64_t kMaxPositions = int64_t(1) << 24;

// Reads typed fields out of config.json with errors that name the file and key.
class Fields {
 public:
  Fields(const json& j, std::string file) : j_(j), file_(std::move(file)) {}

  bool has(const char* key) const { return j_.contains(key) && !j_.at(key).is_null(); }

  int64_t integer_or(const char* key, int64_t fallback) const {
    if (!has(key)) return fallback;
    const json& v = j_.at(key);
    if (!v.is_number_integer()) throw error_at(file_, key, "expected an integer, got " + v.dump());
    int64_t x = v.get<int64_t>();
    if (x <= 0) throw error_at(file_, key, "must be positive, got " + std::to_string(x));
    return x;
  }
  // A positive integer that sizes something: at most `max`.
  int64_t size(const char* key, int64_t max) const {
    if (!has(key)) throw error_at(file_, key, "missing (required for this architecture)");
    return size_or(key, 0, max);
  }
  int64_t size_or(const char* key, int64_t fallback, int64_t max) const {
    const int64_t x = integer_or(key, fallback);
    if (x > max)
      throw error_at(file_, key,
                     std::to_string(x) + " exceeds the limit of " + std::to_string(max) +
                         " (corrupt config.json?)");
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
  if (arch_name == "Gemma3ForCausalLM" || type == "gemma3_text") return Arch::Gemma3;
  throw error_at(f.file(), arch_name.empty() ? "model_type" : "architectures",
                 "unsupported architecture '" + (arch_name.empty() ? type : arch_name) +
                     "' (supported: GPT2LMHeadModel, GPTNeoXForCausalLM, LlamaForCausalLM, "
                     "MistralForCausalLM, Qwen2ForCausalLM, Qwen3ForCausalLM, Gemma3ForCausalLM)");
}

void parse_gpt2(const Fields& f, ModelConfig& c) {
  c.n_layers = f.size("n_layer", kMaxLayers);
  c.d_model = f.size("n_embd", kMaxWidth);
  c.n_heads = f.size("n_head", kMaxHeads);
  c.n_kv_heads = c.n_heads;
  c.d_mlp = f.size_or("n_inner", 4 * c.d_model, kMaxWidth);
  c.d_vocab = f.size("vocab_size", kMaxVocab);
  c.n_ctx = f.size_or("n_positions", f.size_or("n_ctx", 1024, kMaxPositions), kMaxPositions);
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

// The sizes GPT-NeoX and the Llama family name alike (GPT-2 has its own keys).
void parse_hf_sizes(const Fields& f, ModelConfig& c) {
  c.n_layers = f.size("num_hidden_layers", kMaxLayers);
  c.d_model = f.size("hidden_size", kMaxWidth);
  c.n_heads = f.size("num_attention_heads", kMaxHeads);
  c.d_mlp = f.size("intermediate_size", kMaxWidth);
  c.d_vocab = f.size("vocab_size", kMaxVocab);
  c.n_ctx = f.size_or("max_position_embeddings", 2048, kMaxPositions);
}

// hidden_size split evenly over the heads (where no head_dim says otherwise).
int64_t head_width(const Fields& f, const ModelConfig& c) {
  if (c.d_model % c.n_heads != 0)
    throw error_at(f.file(), "hidden_size", "not divisible by num_attention_heads");
  return c.d_model / c.n_heads;
}

void parse_neox(const Fields& f, ModelConfig& c) {
  parse_hf_sizes(f, c);
  c.n_kv_heads = c.n_heads;
  c.norm = NormKind::LayerNorm;
  c.norm_eps = f.number_or("layer_norm_eps", 1e-5);
  c.activation = parse_activation(f, "hidden_act", "gelu");
  c.parallel_residual = f.boolean_or("use_parallel_residual", true);
  c.tie_word_embeddings = f.boolean_or("tie_word_embeddings", false);
  c.qkv_bias = c.attn_out_bias = f.boolean_or("attention_bias", true);
  c.mlp_bias = true;
  c.d_head = head_width(f, c);
  double pct = f.number_or("rotary_pct", f.number_or("partial_rotary_factor", 0.25));
  if (pct <= 0 || pct > 1) throw error_at(f.file(), "rotary_pct", "must be in (0, 1]");
  c.rotary_dim = int64_t(double(c.d_head) * pct);
  c.rope_theta = f.number_or("rotary_emb_base", f.number_or("rope_theta", 10000.0));
  c.attn_scale = 1.0 / std::sqrt(double(c.d_head));
}

// A rope_scaling object (`key` names it in errors): llama3 or linear scaling, or none.
void read_rope_scaling(const Fields& r, const std::string& key, ModelConfig& c) {
  std::string type = r.string_or("rope_type", r.string_or("type", ""));
  if (type == "default" || type.empty()) return;
  if (type != "llama3" && type != "linear")
    throw error_at(r.file(), key + ".rope_type",
                   "unsupported '" + type + "' (supported: llama3, linear)");
  c.rope_scaling.type = type;
  c.rope_scaling.factor = r.number_or("factor", 1.0);
  c.rope_scaling.low_freq_factor = r.number_or("low_freq_factor", 1.0);
  c.rope_scaling.high_freq_factor = r.number_or("high_freq_factor", 4.0);
  c.rope_scaling.original_max_position_embeddings =
      r.size_or("original_max_position_embeddings", 8192, kMaxPositions);
}

void parse_rope_scaling(const Fields& f, ModelConfig& c) {
  if (!f.has("rope_scaling")) return;
  const json& rs = f.raw("rope_scaling");
  if (!rs.is_object()) throw error_at(f.file(), "rope_scaling", "expected an object or null");
  read_rope_scaling(Fields(rs, f.file()), "rope_scaling", c);
}

// Llama, Mistral, Qwen2 and Qwen3 share one config vocabulary.
void parse_llama_family(const Fields& f, ModelConfig& c) {
  parse_hf_sizes(f, c);
  c.n_kv_heads = f.size_or("num_key_value_heads", c.n_heads, kMaxHeads);
  if (c.n_heads % c.n_kv_heads != 0)
    throw error_at(f.file(), "num_key_value_heads", "must divide num_attention_heads");
  c.norm = NormKind::RmsNorm;
  c.norm_eps = f.number_or("rms_norm_eps", 1e-6);
  c.activation = parse_activation(f, "hidden_act", "silu");
  c.gated_mlp = true;
  c.tie_word_embeddings = f.boolean_or("tie_word_embeddings", false);
  c.d_head = f.has("head_dim") ? f.size("head_dim", kMaxWidth) : head_width(f, c);
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
      c.sliding_window = f.has("sliding_window") ? f.size("sliding_window", kMaxPositions) : 0;
      break;
    case Arch::Qwen2:
      c.qkv_bias = true;
      if (f.boolean_or("use_sliding_window", false))
        c.sliding_window = f.size_or("sliding_window", 0, kMaxPositions);
      break;
    case Arch::Qwen3:
      c.qkv_bias = c.attn_out_bias = f.boolean_or("attention_bias", false);
      c.qk_norm = true;
      if (f.boolean_or("use_sliding_window", false))
        c.sliding_window = f.size_or("sliding_window", 0, kMaxPositions);
      break;
    default:
      break;
  }
}

// Gemma 3 (Gemma3ForCausalLM, model_type gemma3_text): the Llama vocabulary plus its own keys.
// Its RMSNorms scale by (1 + weight); the loader folds the 1 into the weights (archs/gemma3.cpp).
void parse_gemma3(const Fields& f, ModelConfig& c) {
  parse_llama_family(f, c);
  c.activation = parse_activation(
      f, f.has("hidden_activation") ? "hidden_activation" : "hidden_act", "gelu_pytorch_tanh");
  c.tie_word_embeddings = f.boolean_or("tie_word_embeddings", true);
  c.qkv_bias = c.attn_out_bias = f.boolean_or("attention_bias", false);
  c.qk_norm = true;
  c.post_norms = true;
  c.embed_scale = std::sqrt(double(c.d_model));
  c.attn_scale = 1.0 / std::sqrt(f.number_or("query_pre_attn_scalar", 256.0));
  if (f.has("attn_logit_softcapping"))
    throw error_at(f.file(), "attn_logit_softcapping", "attention softcapping is not supported");
  if (f.boolean_or("use_bidirectional_attention", false))
    throw error_at(f.file(), "use_bidirectional_attention", "true is not supported");
  c.final_logit_softcap = f.number_or("final_logit_softcapping", 0.0);
  if (c.final_logit_softcap < 0)
    throw error_at(f.file(), "final_logit_softcapping", "must be positive or null");
  // Rotary bases: transformers 5's rope_parameters {full_attention, sliding_attention}, or the
  // older rope_theta / rope_local_base_freq / rope_scaling (global layers only).
  c.rope_scaling = RopeScaling{};
  c.rope_theta = f.number_or("rope_theta", 1e6);
  c.local_rope_theta = f.number_or("rope_local_base_freq", 10000.0);
  parse_rope_scaling(f, c);
  if (f.has("rope_parameters")) {
    const json& rp = f.raw("rope_parameters");
    if (!rp.is_object()) throw error_at(f.file(), "rope_parameters", "expected an object");
    Fields r(rp, f.file());
    if (r.has("full_attention")) {
      Fields full(r.raw("full_attention"), f.file());
      c.rope_theta = full.number_or("rope_theta", c.rope_theta);
      read_rope_scaling(full, "rope_parameters.full_attention", c);
    }
    if (r.has("sliding_attention")) {
      Fields local(r.raw("sliding_attention"), f.file());
      c.local_rope_theta = local.number_or("rope_theta", c.local_rope_theta);
      const std::string type = local.string_or("rope_type", "default");
      if (type != "default")
        throw error_at(f.file(), "rope_parameters.sliding_attention.rope_type",
                       "unsupported '" + type + "' (supported: default)");
    }
  }
  c.sliding_window = 0;
  c.local_window = f.size_or("sliding_window", 4096, kMaxPositions);
  c.local_layers.assign(static_cast<size_t>(c.n_layers), false);
  if (f.has("layer_types")) {
    const json& types = f.raw("layer_types");
    if (!types.is_array() || int64_t(types.size()) != c.n_layers)
      throw error_at(f.file(), "layer_types",
                     "expected a list of " + std::to_string(c.n_layers) + " layer types");
    for (size_t l = 0; l < types.size(); ++l) {
      const std::string t = types[l].is_string() ? types[l].get<std::string>() : types[l].dump();
      if (t != "sliding_attention" && t != "full_attention")
        throw error_at(f.file(), "layer_types",
                       "entry " + std::to_string(l) + ": '" + t +
                           "' (expected sliding_attention or full_attention)");
      c.local_layers[l] = t == "sliding_attention";
    }
  } else {  // every pattern-th layer is global
    const int64_t pattern = f.size_or("sliding_window_pattern", 6, kMaxLayers);
    for (int64_t l = 0; l < c.n_layers; ++l) c.local_layers[size_t(l)] = (l + 1) % pattern != 0;
  }
}

// The config.json keys of the sizes that dominate a model's weights.
struct SizeKeys {
  const char* layers;
  const char* width;
  const char* mlp;
  const char* vocab;
};

SizeKeys size_keys(Arch arch) {
  if (arch == Arch::Gpt2) return {"n_layer", "n_embd", "n_inner", "vocab_size"};
  return {"num_hidden_layers", "hidden_size", "intermediate_size", "vocab_size"};
}

// Parameters in the embedding and the layers' projection matrices: a lower bound of the
// model's size (norms, biases and the LM head left out). In double: sizes within the caps
// can still multiply past int64.
double min_params(int64_t layers, int64_t width, int64_t mlp, int64_t vocab, const ModelConfig& c) {
  const double d_q = double(c.n_heads) * double(c.d_head),
               d_kv = double(c.n_kv_heads) * double(c.d_head);
  const double attn = double(width) * (d_q + 2 * d_kv) + d_q * double(width);
  const double ffn = (c.gated_mlp ? 3.0 : 2.0) * double(width) * double(mlp);
  return double(vocab) * double(width) + double(layers) * (attn + ffn);
}

uintmax_t safetensors_bytes(const std::filesystem::path& dir) {
  uintmax_t total = 0;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(dir, ec))
    if (e.path().extension() == ".safetensors" && e.is_regular_file(ec)) total += e.file_size(ec);
  return total;
}

// The weights a config implies, at one byte per parameter (less than any stored dtype), must
// fit in the folder's .safetensors files: a corrupt size within the caps is caught here,
// before a planner or loader sizes anything from it. Names the key whose value accounts for
// most of the excess. A folder without weight files (a config on its own) is not checked.
void check_against_weight_files(const ModelConfig& c, const std::filesystem::path& dir,
                                const std::string& file) {
  const uintmax_t on_disk = safetensors_bytes(dir);
  if (on_disk == 0) return;
  const double need = min_params(c.n_layers, c.d_model, c.d_mlp, c.d_vocab, c);
  if (need <= double(on_disk)) return;
  const SizeKeys keys = size_keys(c.arch);
  const double without[4] = {min_params(1, c.d_model, c.d_mlp, c.d_vocab, c),
                             min_params(c.n_layers, 1, c.d_mlp, c.d_vocab, c),
                             min_params(c.n_layers, c.d_model, 1, c.d_vocab, c),
                             min_params(c.n_layers, c.d_model, c.d_mlp, 1, c)};
  const char* names[4] = {keys.layers, keys.width, keys.mlp, keys.vocab};
  const int64_t values[4] = {c.n_layers, c.d_model, c.d_mlp, c.d_vocab};
  int worst = 0;
  for (int i = 1; i < 4; ++i)
    if (need / std::max(without[i], 1.0) > need / std::max(without[worst], 1.0)) worst = i;
  char need_text[32];
  std::snprintf(need_text, sizeof need_text, "%.3g", need);
  throw error_at(file, names[worst],
                 std::to_string(values[worst]) + " makes the model at least " + need_text +
                     " parameters, more than the " + std::to_string(on_disk) +
                     " bytes of .safetensors files beside it hold (corrupt config.json?)");
}

}  // namespace

const char* arch_name(Arch arch) {
  switch (arch) {
    case Arch::Gpt2:
      return "gpt2";
    case Arch::GptNeoX:
      return "gpt_neox";
    case Arch::Llama:
      return "llama";
    case Arch::Mistral:
      return "mistral";
    case Arch::Qwen2:
      return "qwen2";
    case Arch::Qwen3:
      return "qwen3";
    case Arch::Gemma3:
      return "gemma3_text";
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
    case Arch::Gpt2:
      parse_gpt2(f, c);
      break;
    case Arch::GptNeoX:
      parse_neox(f, c);
      break;
    case Arch::Gemma3:
      parse_gemma3(f, c);
      break;
    default:
      parse_llama_family(f, c);
      break;
  }
  return c;
}

ModelConfig load_model_config(const std::filesystem::path& dir) {
  std::filesystem::path path = dir / "config.json";
  std::ifstream in(path);
  if (!in)
    throw error_at(path.string(), "", "cannot open (is this a Hugging Face checkpoint folder?)");
  std::stringstream text;
  text << in.rdbuf();
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(text.str());
  } catch (const nlohmann::json::exception& e) {  // parse_error, or out_of_range: 1e5555
    throw error_at(path.string(), "", std::string("malformed JSON: ") + e.what());
  }
  ModelConfig c = parse_model_config(j, path.string());
  check_against_weight_files(c, dir, path.string());
  return c;
}

}  // namespace csweep::model
