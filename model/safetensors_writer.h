#pragma once
// Writes a .safetensors file in the exact layout Hugging Face's library produces (8-byte
// little-endian header length, JSON header padded with spaces to 8 bytes, tensors in name
// order). Written to a temporary name and renamed, so a reader never sees half a file.
// Torch-free: callers hand over raw little-endian bytes.
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "model/safetensors.h"

namespace csweep::model {

struct TensorBytes {
  std::string name;
  DType dtype = DType::F32;
  std::vector<int64_t> shape;
  std::vector<std::byte> bytes;  // numel x dtype_size bytes, little-endian
};

void write_safetensors(const std::filesystem::path& path, std::vector<TensorBytes> tensors,
                       const std::map<std::string, std::string>& metadata = {});

}  // namespace csweep::model
