#include "model/model.h"

#include <chrono>

#include "common/error.h"
#include "common/log.h"
#include "model/arch_table.h"
#include "model/checkpoint_files.h"
#include "model/layers.h"
#include "model/tensor_io.h"

namespace csweep::model {

Model::Model(ModelConfig config, Weights weights, c10::ScalarType dtype, c10::Device device)
    : config_(std::move(config)), weights_(std::move(weights)), dtype_(dtype), device_(device) {}

std::shared_ptr<Model> Model::load(const std::filesystem::path& dir, const LoadOptions& options) {
  auto start = std::chrono::steady_clock::now();
  check_device(options.device);
  check_compute_dtype(options.dtype, options.device);
  ModelConfig config = load_model_config(dir);
  CheckpointFiles files = CheckpointFiles::open(dir);
  Weights weights = load_weights(files, config, options.dtype, options.device);
  double ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  log::get("model")->info("loaded {} ({} layers, d_model {}) from {} as {} on {} in {:.0f} ms",
                          arch_name(config.arch), config.n_layers, config.d_model, dir.string(),
                          c10::toString(options.dtype), options.device.str(), ms);
  auto model =
      std::make_shared<Model>(std::move(config), std::move(weights), options.dtype, options.device);
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
  return tables_.emplace(seq, std::move(t)).first->second;
}

}  // namespace csweep::model
