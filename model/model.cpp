#include "model/model.h"

#include <chrono>

#include "common/error.h"
#include "common/log.h"
#include "model/arch_table.h"
#include "model/checkpoint_files.h"
#include "model/layers.h"
#include "model/tensor_io.h"
#include "model/tensor_parallel.h"

namespace csweep::model {

Model::Model(ModelConfig config, Weights weights, c10::ScalarType dtype, c10::Device device,
             Collective* group)
    : config_(std::move(config)),
      weights_(std::move(weights)),
      tp_(std::make_unique<TensorParallel>(group, config_)),
      local_(local_config(config_, tp_->part())),
      dtype_(dtype),
      device_(device) {
  // A whole model handed to one rank of a group (or a slice to the wrong rank) would compute
  // garbage silently: the query projection's rows say which it is.
  if (!weights_.layers.empty() && weights_.layers[0].W_Q.defined() &&
      weights_.layers[0].W_Q.size(0) != local_.d_q())
    throw Error("model: tensor_parallel: W_Q has " +
                std::to_string(weights_.layers[0].W_Q.size(0)) + " rows but rank " +
                std::to_string(tp_->part().rank) + " of " + std::to_string(tp_->part().size) +
                " holds " + std::to_string(local_.d_q()));
}

Model::~Model() = default;

const Partition& Model::partition() const { return tp_->part(); }
Collective& Model::group() const { return tp_->group(); }

std::shared_ptr<Model> Model::load(const std::filesystem::path& dir, const LoadOptions& options) {
  auto start = std::chrono::steady_clock::now();
  check_device(options.device);
  check_compute_dtype(options.dtype, options.device);
  ModelConfig config = load_model_config(dir);
  const Collective* group = options.tensor_parallel;
  const Partition part = partition_of(config, group ? group->rank() : 0, group ? group->size() : 1);
  CheckpointFiles files = CheckpointFiles::open(dir);
  Weights weights = load_weights(files, config, options.dtype, options.device, nullptr, part);
  double ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  log::get("model")->info("loaded {} ({} layers, d_model {}) from {} as {} on {} in {:.0f} ms{}",
                          arch_name(config.arch), config.n_layers, config.d_model, dir.string(),
                          c10::toString(options.dtype), options.device.str(), ms,
                          part.whole() ? std::string()
                                       : " (tensor-parallel rank " + std::to_string(part.rank) +
                                             " of " + std::to_string(part.size) + ")");
  auto model = std::make_shared<Model>(std::move(config), std::move(weights), options.dtype,
                                       options.device, options.tensor_parallel);
  model->set_attention(options.attention);
  return model;
}

const Model::SeqTables& Model::seq_tables(int64_t seq) const {
  std::lock_guard<std::mutex> lock(tables_mutex_);
  auto it = tables_.find(seq);
  if (it != tables_.end()) return it->second;
  SeqTables t;
  t.mask = causal_mask(config_, seq, dtype_, device_);
  if (config_.rotary_dim > 0) rotary_tables(config_, seq, dtype_, device_, &t.cos, &t.sin);
  if (!config_.local_layers.empty()) {
    ModelConfig local = config_;
    local.sliding_window = config_.local_window;
    local.rope_theta = config_.local_rope_theta;
    local.rope_scaling = RopeScaling{};
    t.local_mask = causal_mask(local, seq, dtype_, device_);
    rotary_tables(local, seq, dtype_, device_, &t.local_cos, &t.local_sin);
  }
  return tables_.emplace(seq, std::move(t)).first->second;
}

}  // namespace csweep::model
