#pragma once
// Checks a checkpoint folder's tensors against its config.json before anything is loaded: the
// architecture's conversion (model/archs/) runs on meta tensors, so every tensor the loader
// would read is looked up and shape-checked from the safetensors headers, and no weight byte is
// read or allocated. `csweep plan` and `csweep run` call it before a store exists.
#include <filesystem>

#include "model/config.h"

namespace csweep::model {

// Throws the loader's own one-line csweep::Error: "FILE: tensor 'NAME': shape [..] but ARCH with
// this config.json needs [..]", "...: missing (required by ARCH)", or a non-float dtype. A folder
// without .safetensors files (a config on its own, for planning) is not checked.
void check_checkpoint_shapes(const std::filesystem::path& dir, const ModelConfig& config);

}  // namespace csweep::model
