#include "model/gguf/gguf_arch.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "common/error.h"
#include "model/safetensors.h"

namespace csweep::model::gguf {
namespace {

struct ArchRow {
  const char* gguf;      // general.architecture
  const char* hf_class;  // config.json "architectures"
  const char* model_type;
  bool permuted_qk;  // convert_hf_to_gguf.py permutes Q/K rows (LlamaModel.permute)
};

// Mistral and SmolLM2 checkpoints are written as "llama".
constexpr ArchRow kArchs[] = {
    {"llama", "LlamaForCausalLM", "llama", true},
    {"qwen2", "Qwen2ForCausalLM", "qwen2", false},
    {"qwen3", "Qwen3ForCausalLM", "qwen3", false},
    {"gemma3", "Gemma3ForCausalLM", "gemma3_text", false},
};

const ArchRow& arch_row(const GgufFile& f, const std::string& arch) {
  for (const ArchRow& r : kArchs)
    if (arch == r.gguf) return r;
  std::string names;
  for (const ArchRow& r : kArchs) names += (names.empty() ? "" : ", ") + std::string(r.gguf);
  throw error_at(f.path().string(), "metadata 'general.architecture'",
                 "'" + arch + "' is not supported (supported: " + names + ")");
}

int64_t positive(const GgufFile& f, const std::string& key, uint64_t v) {
  if (v == 0 || v > (uint64_t(1) << 31))
    throw error_at(f.path().string(), "metadata '" + key + "'",
                   "must be in [1, 2^31], got " + std::to_string(v));
  return int64_t(v);
}

int64_t get_dim(const GgufFile& f, const std::string& key) {
  return positive(f, key, f.get_uint(key));
}

int64_t get_dim_or(const GgufFile& f, const std::string& key, int64_t fallback) {
  auto v = f.get_uint_or_none(key);
  return v ? positive(f, key, *v) : fallback;
}

[[noreturn]] void tensor_error(const GgufFile& f, const TensorInfo& t, const std::string& reason) {
  throw error_at(f.path().string(), "tensor '" + t.name + "'", reason);
}

// What llama.cpp's Gemma 3 loader fixes rather than stores (llama-model.cpp, LLM_ARCH_GEMMA3):
// every 6th layer global, the others a sliding window with rotary base 10000, queries scaled by
// 1/sqrt(key_length).
void add_gemma3_keys(const GgufFile& f, const GgufModelShape& s, nlohmann::ordered_json& c) {
  const std::string p = s.arch + ".";
  c["sliding_window"] = get_dim(f, p + "attention.sliding_window");
  c["sliding_window_pattern"] = 6;
  c["rope_local_base_freq"] = 10000.0;
  c["query_pre_attn_scalar"] = s.d_head;
  if (auto cap = f.get_float_or_none(p + "final_logit_softcapping"))
    c["final_logit_softcapping"] = shortest_float32(*cap);
  if (f.has(p + "attn_logit_softcapping"))
    throw error_at(f.path().string(), "metadata '" + p + "attn_logit_softcapping'",
                   "attention softcapping (Gemma 2) is not supported");
}

}  // namespace

double shortest_float32(double value) {
  const float target = float(value);
  char buf[64];
  for (int digits = 1; digits <= 9; ++digits) {
    std::snprintf(buf, sizeof buf, "%.*g", digits, double(target));
    if (std::strtof(buf, nullptr) == target) return std::strtod(buf, nullptr);
  }
  return double(target);
}

GgufModelShape read_model_shape(const GgufFile& f) {
  GgufModelShape s;
  s.arch = f.get_string("general.architecture");
  const ArchRow& row = arch_row(f, s.arch);
  const std::string p = s.arch + ".";
  s.permuted_qk = row.permuted_qk;
  s.n_layers = get_dim(f, p + "block_count");
  s.d_model = get_dim(f, p + "embedding_length");
  s.d_mlp = get_dim(f, p + "feed_forward_length");
  s.n_heads = get_dim(f, p + "attention.head_count");
  s.n_kv_heads = get_dim_or(f, p + "attention.head_count_kv", s.n_heads);
  if (s.n_heads % s.n_kv_heads != 0)
    throw error_at(
        f.path().string(), "metadata '" + p + "attention.head_count_kv'",
        std::to_string(s.n_kv_heads) + " does not divide head_count " + std::to_string(s.n_heads));
  if (f.has(p + "attention.key_length")) {
    s.d_head = get_dim(f, p + "attention.key_length");
  } else {
    if (s.d_model % s.n_heads != 0)
      throw error_at(f.path().string(), "metadata '" + p + "embedding_length'",
                     "not divisible by the head count");
    s.d_head = s.d_model / s.n_heads;
  }
  if (s.permuted_qk && s.d_head % 2 != 0)
    throw error_at(f.path().string(), "metadata '" + p + "attention.head_count'",
                   "odd head size " + std::to_string(s.d_head) + " cannot carry rotary pairs");
  if (auto vlen = f.get_uint_or_none(p + "attention.value_length");
      vlen && int64_t(*vlen) != s.d_head)
    throw error_at(f.path().string(), "metadata '" + p + "attention.value_length'",
                   "differs from the key length; not supported");
  if (auto rot = f.get_uint_or_none(p + "rope.dimension_count"); rot && int64_t(*rot) != s.d_head)
    throw error_at(f.path().string(), "metadata '" + p + "rope.dimension_count'",
                   std::to_string(*rot) + " (partial rotary) is not supported for " + s.arch +
                       ": expected " + std::to_string(s.d_head));
  if (auto v = f.get_uint_or_none(p + "vocab_size")) {
    s.d_vocab = positive(f, p + "vocab_size", *v);
  } else if (f.has("tokenizer.ggml.tokens")) {
    s.d_vocab = int64_t(f.get_array("tokenizer.ggml.tokens", ValueType::STRING).size());
  } else if (const TensorInfo* e = f.find_tensor("token_embd.weight"); e && e->dims.size() == 2) {
    s.d_vocab = positive(f, "token_embd.weight", e->dims[1]);
  } else {
    throw error_at(f.path().string(), "metadata '" + p + "vocab_size'",
                   "missing, and no tokenizer or embedding to infer it from");
  }
  s.tied_embeddings = f.find_tensor("output.weight") == nullptr;
  if (f.find_tensor("rope_freqs.weight"))
    throw error_at(f.path().string(), "tensor 'rope_freqs.weight'",
                   "per-frequency rope factors (Llama 3.1-style rope scaling) are not supported");
  return s;
}

nlohmann::ordered_json make_hf_config(const GgufFile& f, const GgufModelShape& s,
                                      const std::string& dtype) {
  const ArchRow& row = arch_row(f, s.arch);
  const std::string p = s.arch + ".";
  nlohmann::ordered_json c;
  c["architectures"] = {row.hf_class};
  c["model_type"] = row.model_type;
  c["vocab_size"] = s.d_vocab;
  c["hidden_size"] = s.d_model;
  c["intermediate_size"] = s.d_mlp;
  c["num_hidden_layers"] = s.n_layers;
  c["num_attention_heads"] = s.n_heads;
  c["num_key_value_heads"] = s.n_kv_heads;
  c["head_dim"] = s.d_head;
  if (s.arch == "gemma3")
    c["hidden_activation"] = "gelu_pytorch_tanh";
  else
    c["hidden_act"] = "silu";
  c["max_position_embeddings"] = get_dim_or(f, p + "context_length", 2048);
  c["rms_norm_eps"] = shortest_float32(f.get_float(p + "attention.layer_norm_rms_epsilon"));
  c["rope_theta"] = shortest_float32(f.get_float_or_none(p + "rope.freq_base").value_or(10000.0));
  std::string scaling = f.get_string_or_none(p + "rope.scaling.type").value_or("none");
  if (scaling == "none") {
    c["rope_scaling"] = nullptr;
  } else if (scaling == "linear") {
    c["rope_scaling"] = {{"rope_type", "linear"},
                         {"factor", shortest_float32(f.get_float(p + "rope.scaling.factor"))}};
  } else {
    throw error_at(f.path().string(), "metadata '" + p + "rope.scaling.type'",
                   "'" + scaling + "' is not supported (supported: none, linear)");
  }
  const bool qkv_bias = f.find_tensor("blk.0.attn_q.bias") != nullptr;
  if (s.arch == "qwen2") {
    c["use_sliding_window"] = false;
  } else {
    c["attention_bias"] = qkv_bias;
  }
  if (s.arch == "llama") c["mlp_bias"] = false;
  if (s.arch == "gemma3") add_gemma3_keys(f, s, c);
  c["tie_word_embeddings"] = s.tied_embeddings;
  if (auto bos = f.get_uint_or_none("tokenizer.ggml.bos_token_id")) c["bos_token_id"] = *bos;
  if (auto eos = f.get_uint_or_none("tokenizer.ggml.eos_token_id")) c["eos_token_id"] = *eos;
  c["torch_dtype"] = dtype;
  return c;
}

HfTensorPlan plan_tensor(const GgufFile& f, const GgufModelShape& s, const TensorInfo& t) {
  const int64_t d = s.d_model, m = s.d_mlp, dq = s.n_heads * s.d_head,
                dkv = s.n_kv_heads * s.d_head;
  HfTensorPlan plan;
  std::string suffix;
  int64_t layer = -1;
  if (t.name.rfind("blk.", 0) == 0) {
    size_t dot = t.name.find('.', 4);
    char* end = nullptr;
    long long l = dot == std::string::npos ? -1 : std::strtoll(t.name.c_str() + 4, &end, 10);
    if (dot == std::string::npos || end != t.name.c_str() + dot || l < 0 || l >= s.n_layers)
      tensor_error(f, t, "block index outside [0, " + std::to_string(s.n_layers) + ")");
    layer = l;
    suffix = t.name.substr(dot + 1);
  }
  struct Row {
    const char* gguf;
    const char* hf;
    std::vector<int64_t> shape;
    int64_t permute_heads;
  };
  // Gemma 3: ffn_norm is the MLP's input norm, and two more norms follow the attention and MLP.
  const bool gemma = s.arch == "gemma3";
  const int64_t pq = s.permuted_qk ? s.n_heads : 0, pk = s.permuted_qk ? s.n_kv_heads : 0;
  const std::string L = "model.layers." + std::to_string(layer) + ".";
  const std::vector<Row> rows =
      layer < 0
          ? std::vector<Row>{{"token_embd.weight", "model.embed_tokens.weight", {s.d_vocab, d}, 0},
                             {"output_norm.weight", "model.norm.weight", {d}, 0},
                             {"output.weight", "lm_head.weight", {s.d_vocab, d}, 0}}
          : std::vector<Row>{
                {"attn_norm.weight", "input_layernorm.weight", {d}, 0},
                {"attn_q.weight", "self_attn.q_proj.weight", {dq, d}, pq},
                {"attn_k.weight", "self_attn.k_proj.weight", {dkv, d}, pk},
                {"attn_v.weight", "self_attn.v_proj.weight", {dkv, d}, 0},
                {"attn_q.bias", "self_attn.q_proj.bias", {dq}, pq},
                {"attn_k.bias", "self_attn.k_proj.bias", {dkv}, pk},
                {"attn_v.bias", "self_attn.v_proj.bias", {dkv}, 0},
                {"attn_q_norm.weight", "self_attn.q_norm.weight", {s.d_head}, 0},
                {"attn_k_norm.weight", "self_attn.k_norm.weight", {s.d_head}, 0},
                {"attn_output.weight", "self_attn.o_proj.weight", {d, dq}, 0},
                {"ffn_norm.weight",
                 gemma ? "pre_feedforward_layernorm.weight" : "post_attention_layernorm.weight",
                 {d},
                 0},
                {"post_attention_norm.weight",
                 gemma ? "post_attention_layernorm.weight" : "",
                 {d},
                 0},
                {"post_ffw_norm.weight", gemma ? "post_feedforward_layernorm.weight" : "", {d}, 0},
                {"ffn_gate.weight", "mlp.gate_proj.weight", {m, d}, 0},
                {"ffn_up.weight", "mlp.up_proj.weight", {m, d}, 0},
                {"ffn_down.weight", "mlp.down_proj.weight", {d, m}, 0}};
  const std::string key = layer < 0 ? t.name : suffix;
  for (const Row& r : rows) {
    if (key != r.gguf || !*r.hf) continue;
    plan.hf_name = layer < 0 ? r.hf : L + r.hf;
    // llama.cpp's Gemma converter adds 1 to every norm weight (Gemma3RMSNorm scales by 1 + w).
    if (gemma && key.size() > 11 && key.compare(key.size() - 11, 11, "norm.weight") == 0)
      plan.shift = -1.0f;
    plan.shape = r.shape;
    plan.unpermute_heads = r.permute_heads;
    if (t.shape() != plan.shape)
      tensor_error(f, t,
                   "shape " + format_shape(t.shape()) + " does not fit this " + s.arch +
                       " configuration (expected " + format_shape(plan.shape) + ")");
    return plan;
  }
  tensor_error(f, t, "no Hugging Face counterpart in a " + s.arch + " checkpoint (not converted)");
}

void unpermute_rotary_rows(std::vector<float>& data, int64_t rows, int64_t cols, int64_t n_heads) {
  const int64_t d_head = rows / n_heads, half = d_head / 2;
  std::vector<float> out(data.size());
  for (int64_t h = 0; h < n_heads; ++h)
    for (int64_t j = 0; j < half; ++j)
      for (int64_t t = 0; t < 2; ++t) {
        const float* src = data.data() + (h * d_head + 2 * j + t) * cols;
        std::memcpy(out.data() + (h * d_head + t * half + j) * cols, src,
                    size_t(cols) * sizeof(float));
      }
  data.swap(out);
}

}  // namespace csweep::model::gguf
