#pragma once
// A steering direction read from a file: a .safetensors tensor by name, or a .npy array
// (little-endian float16, bfloat16 (safetensors only), float32 or float64, C order). Torch-free:
// the job reader checks the shape against the model's config before any worker starts.
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace csweep::jobs {

struct DirectionValues {
  std::vector<int64_t> shape;
  std::vector<float> values;  // row-major
};

// What was wrong and with which field of `direction` ("file" or "tensor").
struct DirectionFileError {
  std::string field;
  std::string reason;
};

// `tensor` names the safetensors tensor (empty: the file's only tensor); a .npy file takes none.
// Throws DirectionFileError.
DirectionValues read_direction_file(const std::filesystem::path& path, const std::string& tensor);

}  // namespace csweep::jobs
