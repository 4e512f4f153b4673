#pragma once
// What a GGUF checkpoint of one llama.cpp architecture becomes in Hugging Face terms: its
// config.json (from the "<arch>.*" metadata) and the HF name and layout of each tensor
// ("blk.3.attn_q.weight" -> "model.layers.3.self_attn.q_proj.weight", with llama.cpp's
// rotary row permutation of Q and K undone). Torch-free.
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "model/gguf/gguf_file.h"

namespace csweep::model::gguf {

// The hyper-parameters the tensor mapping needs, read once from the metadata.
struct GgufModelShape {
  std::string arch;  // general.architecture: "llama", "qwen2", "qwen3"
  int64_t n_layers = 0, d_model = 0, n_heads = 0, n_kv_heads = 0, d_head = 0, d_mlp = 0,
          d_vocab = 0;
  bool tied_embeddings = false;  // no output.weight: the LM head is the token embedding
  bool permuted_qk = false;      // llama.cpp stores Q/K rows interleaved for its rotary kernel
};

// Reads and checks general.architecture and the <arch>.* keys; throws csweep::Error naming the
// file and key, or listing the supported architectures.
GgufModelShape read_model_shape(const GgufFile& file);

// config.json for the Hugging Face class of that architecture (LlamaForCausalLM, ...).
nlohmann::ordered_json make_hf_config(const GgufFile& file, const GgufModelShape& shape,
                                      const std::string& dtype);

// How one GGUF tensor is stored in the HF checkpoint.
struct HfTensorPlan {
  std::string hf_name;
  std::vector<int64_t> shape;   // row-major, as HF stores it
  int64_t unpermute_heads = 0;  // > 0: undo llama.cpp's Q/K row permutation over this many heads
  float shift = 0;              // added to every value (Gemma's norms: llama.cpp stores 1 + w)
};

// Throws csweep::Error "FILE: tensor 'NAME': REASON" for a tensor with no HF counterpart, or
// with a shape this config does not allow.
HfTensorPlan plan_tensor(const GgufFile& file, const GgufModelShape& shape,
                         const TensorInfo& tensor);

// Undoes convert_hf_to_gguf.py's permute() in place: within each head, GGUF row 2*j + t holds
// HF row t * (d_head / 2) + j (the two rotary halves interleaved). `rows` x `cols` floats.
void unpermute_rotary_rows(std::vector<float>& data, int64_t rows, int64_t cols, int64_t n_heads);

// The shortest decimal that reads back as the same float32 (1e-05, not 9.99999974738e-06), so
// config.json carries the value the model was trained with.
double shortest_float32(double value);

}  // namespace csweep::model::gguf
