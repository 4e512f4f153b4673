#pragma once
// The transformer runtime: load a Hugging Face checkpoint directory into canonical weights and
// run forwards with hooks. Thread-compatible: forward() is const and keeps no per-call state.
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>

#include <ATen/ATen.h>

#include "model/config.h"
#include "model/hooks.h"
#include "model/weights.h"

namespace csweep::model {

struct LoadOptions {
  c10::ScalarType dtype = at::kFloat;  // compute dtype; float16 is refused on CPU
  c10::Device device = at::kCPU;
};

struct ForwardOptions {
  int64_t start_layer = 0;  // >0: skip embeddings and blocks < start_layer; start_resid is blocks.{start_layer}.hook_resid_pre
  at::Tensor start_resid;   // [b, p, d_model]; when defined, also used with start_layer 0 (skips the embeddings)
  int64_t stop_layer = -1;  // >=0: stop after block stop_layer-1 and return that residual (no ln_final/unembed)
  enum class Logits { All, Last, None } logits = Logits::All;  // Last: only the final position ([b, 1, vocab]) — sweeps need only this
};

class Model {
 public:
  // config.json + safetensors through the arch table
  static std::shared_ptr<Model> load(const std::filesystem::path& dir, const LoadOptions& options = {});
  // From weights already in canonical layout (the trainer, tests).
  Model(ModelConfig config, Weights weights, c10::ScalarType dtype, c10::Device device);

  const ModelConfig& config() const { return config_; }
  c10::ScalarType dtype() const { return dtype_; }
  c10::Device device() const { return device_; }
  const Weights& weights() const { return weights_; }
  Weights& mutable_weights() { return weights_; }

  // tokens [b, p] int64 (may be undefined when start_layer > 0). Returns logits [b, p, vocab]
  // (Logits::All) or [b, 1, vocab] (Last); with Logits::None or stop_layer >= 0 the residual
  // stream after the last block run, [b, p, d_model] (no ln_final). Runs with autograd on if the
  // caller has it on: callers choose NoGrad/InferenceMode.
  at::Tensor forward(const at::Tensor& tokens, Hooks* hooks = nullptr, const ForwardOptions& options = {}) const;

 private:
  ModelConfig config_;
  Weights weights_;
  c10::ScalarType dtype_;
  c10::Device device_;
  // Per sequence length, built once: sweeps repeat the same length thousands of times.
  struct SeqTables {
    at::Tensor mask;      // [p, p] additive: 0 where a query may attend, -inf elsewhere
    at::Tensor cos, sin;  // [p, rotary_dim] in the compute dtype (rotary models)
  };
  mutable std::mutex tables_mutex_;
  mutable std::map<int64_t, SeqTables> tables_;
  const SeqTables& seq_tables(int64_t seq) const;
};

}  // namespace csweep::model
