#pragma once
// The transformer runtime: load a Hugging Face checkpoint directory into canonical weights and
// run forwards with hooks. Thread-compatible: forward() is const and keeps no per-call state.
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <vector>

#include <ATen/ATen.h>

#include "model/collective.h"
#include "model/config.h"
#include "model/hooks.h"
#include "model/partition.h"
#include "model/weights.h"

namespace csweep::model {

// Fused: at::scaled_dot_product_attention (flash / memory-efficient kernels on a GPU) wherever
// no hook needs hook_attn_scores or hook_pattern; Explicit: q·kᵀ -> softmax -> ·v always (the
// reference the fused path is tested against).
enum class Attention { Fused, Explicit };

struct LoadOptions {
  c10::ScalarType dtype = at::kFloat;  // compute dtype; float16 is refused on CPU
  c10::Device device = at::kCPU;
  Attention attention = Attention::Fused;
  // The tensor-parallel group that shares this model (not owned; must outlive the model);
  // null: one rank. Each rank reads only its slice of the checkpoint (docs/tensor-parallel.md).
  Collective* tensor_parallel = nullptr;
};

class TensorParallel;

struct ForwardOptions {
  int64_t start_layer = 0;  // >0: skip embeddings and blocks < start_layer; start_resid is
                            // blocks.{start_layer}.hook_resid_pre
  at::Tensor start_resid;  // [b, p, d_model]; when defined, also used with start_layer 0 (skips the
                           // embeddings)
  int64_t stop_layer =
      -1;  // >=0: stop after block stop_layer-1 and return that residual (no ln_final/unembed)
  enum class Logits {
    All,
    Last,
    None
  } logits = Logits::All;  // Last: only the final position ([b, 1, vocab]) — sweeps need only this
};

// Rows that resume an unedited run of one prompt (Model::resume): they start at block
// start_layer from the cached run's residual and recompute only positions [first_pos, P) —
// earlier positions are the cached run's at every block (attention is causal), so their
// keys/values are read from the cache. Hooks see [rows, P - first_pos, ...] (positions shifted
// by -first_pos; scores/pattern [rows, h, P - first_pos, P]).
struct ResumeGroup {
  int64_t rows = 1;
  int64_t start_layer = 0;
  int64_t first_pos = 0;
  // > first_pos: the group's edits in block start_layer all come after attention (hook_z and
  // later sites) on positions < attn_end, so that block runs only from hook_z on, only on
  // positions [first_pos, attn_end), from the cached z; its hooks there see
  // [rows, attn_end - first_pos, ...].
  int64_t attn_end = 0;
  Hooks* hooks = nullptr;
};

// The sites a cached run must hold for Model::resume from any block: every hook_resid_pre, the
// keys (hook_rot_k on rotary models, else hook_k), hook_v and hook_z of every block, and the
// last block's hook_resid_post.
std::set<HookSite> resume_sites(const ModelConfig& config);

class Model {
 public:
  // config.json + safetensors through the arch table
  static std::shared_ptr<Model> load(const std::filesystem::path& dir,
                                     const LoadOptions& options = {});
  // From weights already in canonical layout (the trainer, tests). With a tensor-parallel
  // `group` of more than one rank, `weights` is this rank's slice (shard_weights).
  Model(ModelConfig config, Weights weights, c10::ScalarType dtype, c10::Device device,
        Collective* group = nullptr);
  ~Model();

  const ModelConfig& config() const { return config_; }
  // The rank's part of every layer (the whole model on one rank); weights() holds only it.
  const Partition& partition() const;
  // The tensor-parallel group (a one-rank group without tensor parallelism). Every rank of it
  // must make the same forward/resume calls with the same hooks, in the same order.
  Collective& group() const;
  c10::ScalarType dtype() const { return dtype_; }
  c10::Device device() const { return device_; }
  const Weights& weights() const { return weights_; }
  Weights& mutable_weights() { return weights_; }
  Attention attention() const { return attention_; }
  void set_attention(Attention a) { attention_ = a; }

  // tokens [b, p] int64 (may be undefined when start_layer > 0). Returns logits [b, p, vocab]
  // (Logits::All) or [b, 1, vocab] (Last); with Logits::None or stop_layer >= 0 the residual
  // stream after the last block run, [b, p, d_model] (no ln_final). Runs with autograd on if the
  // caller has it on: callers choose NoGrad/InferenceMode.
  at::Tensor forward(const at::Tensor& tokens, Hooks* hooks = nullptr,
                     const ForwardOptions& options = {}) const;

  // Many groups of rows resuming one cached batch-1 run (`cached`: hook site -> [1, ...], at
  // least resume_sites()) in one pass: every projection and MLP of a block is one GEMM over all
  // groups' token rows. Returns each row's final residual at the last position (before
  // ln_final), [rows in group order, 1, d_model]. No autograd.
  at::Tensor resume(const std::map<HookSite, at::Tensor>& cached,
                    const std::vector<ResumeGroup>& groups) const;

 private:
  ModelConfig config_;
  Weights weights_;
  std::unique_ptr<TensorParallel> tp_;
  ModelConfig local_;  // the config of this rank's slice (the block math runs on it)
  c10::ScalarType dtype_;
  c10::Device device_;
  Attention attention_ = Attention::Fused;
  // Per sequence length, built once: sweeps repeat the same length thousands of times.
  struct SeqTables {
    at::Tensor mask;      // [p, p] additive: 0 where a query may attend, -inf elsewhere
    at::Tensor cos, sin;  // [p, rotary_dim] in the compute dtype (rotary models)
    // Gemma 3's sliding-window layers (config.local_layers): their window and rotary base.
    at::Tensor local_mask, local_cos, local_sin;
  };
  mutable std::mutex tables_mutex_;
  mutable std::map<int64_t, SeqTables> tables_;
  const SeqTables& seq_tables(int64_t seq) const;
};

}  // namespace csweep::model
