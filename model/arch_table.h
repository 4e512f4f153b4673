#pragma once
// One table of checkpoint tensor names per architecture (llama.cpp style): role -> the name
// format the Hugging Face classes save, plus the conversion of those tensors into canonical
// Weights (model/archs/<arch>.cpp). ArchTensors resolves roles against one checkpoint: it
// finds the base-model prefix ("transformer.", "gpt_neox.", "model.") or its absence, checks
// shapes, and reports what the checkpoint holds that no role used.
#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include <ATen/ATen.h>

#include "model/checkpoint_files.h"
#include "model/config.h"
#include "model/partition.h"
#include "model/weights.h"

namespace csweep::model {

enum class Role {
  TokenEmbed,
  PosEmbed,
  AttnNorm,
  AttnNormBias,
  AttnQKV,
  AttnQKVBias,  // fused projections (GPT-2 c_attn, NeoX query_key_value)
  AttnQ,
  AttnQBias,
  AttnK,
  AttnKBias,
  AttnV,
  AttnVBias,
  AttnQNorm,
  AttnKNorm,     // Qwen3, Gemma 3
  AttnPostNorm,  // Gemma 3: the norm of the attention output (post_attention_layernorm)
  AttnOut,
  AttnOutBias,
  FfnNorm,
  FfnNormBias,
  FfnUp,
  FfnUpBias,
  FfnGate,
  FfnDown,
  FfnDownBias,
  FfnPostNorm,  // Gemma 3: the norm of the MLP output (post_feedforward_layernorm)
  OutputNorm,
  OutputNormBias,
  Output,  // lm_head / embed_out
};

const char* role_name(Role role);

class ArchTensors;

struct TensorName {
  Role role;
  const char* format;  // "{L}" stands for the layer index
  bool in_base;        // saved under the base-model prefix (everything but the LM head)
};

struct ArchTable {
  Arch arch;
  const char* base_prefix;  // "transformer.", "gpt_neox.", "model."
  std::vector<TensorName> names;
  std::vector<std::string> ignored_suffixes;  // buffers old checkpoints carry (attn.bias, inv_freq)
  Weights (*convert)(ArchTensors& tensors, const ModelConfig& config);
};

const ArchTable& arch_table(Arch arch);

// The per-architecture tables (model/archs/*.cpp).
const ArchTable& gpt2_table();
const ArchTable& gpt_neox_table();
const ArchTable& llama_table();  // also Mistral
const ArchTable& mistral_table();
const ArchTable& qwen2_table();
const ArchTable& qwen3_table();
const ArchTable& gemma3_table();
// Llama, Mistral, Qwen2 and Qwen3 share one conversion (nn.Linear [out, in] throughout).
Weights convert_llama_family(ArchTensors& tensors, const ModelConfig& config);
// Their shared name table (Qwen3 adds the per-head q/k norms).
std::vector<TensorName> llama_family_names(bool qk_norm);

class ArchTensors {
 public:
  ArchTensors(const CheckpointFiles& files, const ArchTable& table, const ModelConfig& config,
              c10::ScalarType dtype, c10::Device device, const Partition& part = {});

  // The full checkpoint name of a role ("transformer.h.3.attn.c_attn.weight"), with the
  // prefix style this checkpoint uses.
  std::string name(Role role, int64_t layer = -1) const;
  bool has(Role role, int64_t layer = -1) const;
  // Required tensor, converted to the compute dtype and device; throws csweep::Error
  // "FILE: tensor 'NAME': missing (required by ARCH)" or "...: shape [..] but expected [..]".
  at::Tensor get(Role role, int64_t layer, const std::vector<int64_t>& shape);
  // Undefined tensor when absent; shape-checked when present.
  at::Tensor get_if(Role role, int64_t layer, const std::vector<int64_t>& shape);
  // Tensor parallelism: the part of a required tensor (full `shape`, checked) that this rank
  // holds along `dim`: its query heads, KV heads or MLP neurons, `per` elements each (d_head
  // for heads, 1 for neurons unless given), starting `offset` elements into `dim` (fused
  // projections). Only that slice is read from the mapping.
  enum class Split { QHeads, KvHeads, Neurons };
  at::Tensor get_split(Role role, int64_t layer, const std::vector<int64_t>& shape, Split split,
                       int64_t dim, int64_t offset = 0, int64_t per = 0);
  const Partition& partition() const { return part_; }
  // Marks a present tensor as consumed without loading it (a tied lm_head saved anyway).
  void skip(Role role, int64_t layer = -1);
  // Names the checkpoint holds that nothing consumed (minus the ignored buffers).
  std::vector<std::string> unexpected() const;

  c10::ScalarType dtype() const { return dtype_; }
  c10::Device device() const { return device_; }

 private:
  const CheckpointFiles& files_;
  const ArchTable& table_;
  const ModelConfig& config_;
  c10::ScalarType dtype_;
  c10::Device device_;
  Partition part_;
  bool prefixed_ = false;
  std::set<std::string> used_;
  std::string source_file() const;  // the file error messages name
  void get_or_throw_missing(Role role, int64_t layer) const;
  // The entry of a present tensor after the shape and dtype checks (marked used); null if absent.
  const TensorEntry* checked(Role role, int64_t layer, const std::vector<int64_t>& shape);
  const TensorName& entry(Role role) const;
};

// entry.narrow(dim, start, length) in the compute dtype, copied straight from the mapping in
// blocks of whole rows of at most `block_bytes`, each block's pages released once copied
// (madvise: `entry` must point into a SafetensorsFile's mapping): a rank's peak is its copy plus
// one block, not plus the whole tensor's pages (a 13B model's embedding is 312 MiB). Small, 1-D
// or unaligned tensors take to_tensor_slice's one copy. Range errors as to_tensor_slice's.
at::Tensor read_slice(const TensorEntry& entry, int64_t dim, int64_t start, int64_t length,
                      c10::ScalarType dtype, c10::Device device,
                      size_t block_bytes = size_t{32} << 20);

// Loads every canonical weight of a checkpoint folder; logs a warning listing unexpected tensors.
// `part`: the tensor-parallel rank's slice (the whole model by default).
Weights load_weights(const CheckpointFiles& files, const ModelConfig& config, c10::ScalarType dtype,
                     c10::Device device, std::vector<std::string>* unexpected = nullptr,
                     const Partition& part = {});

}  // namespace csweep::model
