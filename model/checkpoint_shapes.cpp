#include "model/checkpoint_shapes.h"

#include "model/arch_table.h"
#include "model/checkpoint_files.h"

namespace csweep::model {

void check_checkpoint_shapes(const std::filesystem::path& dir, const ModelConfig& config) {
  bool any_weights = false;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(dir, ec))
    any_weights = any_weights || e.path().extension() == ".safetensors";
  if (!any_weights) return;
  const CheckpointFiles files = CheckpointFiles::open(dir);
  const ArchTable& table = arch_table(config.arch);
  // Meta tensors carry shapes only: copying a mapped tensor to them reads none of its bytes.
  ArchTensors tensors(files, table, config, at::kFloat, c10::Device(c10::kMeta));
  table.convert(tensors, config);
}

}  // namespace csweep::model
