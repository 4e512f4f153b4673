#pragma once
// A read-only, memory-mapped .safetensors file (https://github.com/huggingface/safetensors):
// 8-byte little-endian header length N, N bytes of JSON header, then the raw tensor bytes.
// open() validates the whole header before anything is returned, so a TensorEntry always
// points at exactly shape x dtype-size bytes inside the mapping. Nothing is ever copied:
// a 26 GB checkpoint costs page cache, not heap. Torch-free.
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace csweep::model {

enum class DType { F64, F32, F16, BF16, I64, I32, I16, I8, U8, BOOL };

size_t dtype_size(DType dtype);       // bytes per element
const char* dtype_name(DType dtype);  // the safetensors spelling: "F32", "BF16", ...
bool parse_dtype(const std::string& name, DType* out);  // false if unknown

struct TensorEntry {  // one tensor of a memory-mapped .safetensors file
  std::string name;
  DType dtype = DType::F32;
  std::vector<int64_t> shape;
  const std::byte* data = nullptr;  // points into the mmap; never copied
  size_t nbytes = 0;
  std::string file;  // for error messages

  int64_t numel() const;
};

// "[64,192]" — how shapes appear in error messages.
std::string format_shape(const std::vector<int64_t>& shape);

class MappedFile;  // owns the mmap (safetensors.cpp)

class SafetensorsFile {
 public:
  // Validates everything (header length, JSON, dtypes, shapes vs spans, spans inside the
  // data section and not overlapping), then maps the file read-only. Throws csweep::Error
  // "FILE: tensor 'NAME': REASON" (or "FILE: REASON" for file-level problems).
  static std::shared_ptr<SafetensorsFile> open(const std::filesystem::path& path);

  const std::vector<TensorEntry>& tensors() const { return tensors_; }  // sorted by name
  const TensorEntry* find(const std::string& name) const;               // nullptr if absent
  const std::map<std::string, std::string>& metadata() const { return metadata_; }  // __metadata__
  const std::filesystem::path& path() const { return path_; }
  size_t file_size() const;

  SafetensorsFile(const SafetensorsFile&) = delete;
  SafetensorsFile& operator=(const SafetensorsFile&) = delete;
  ~SafetensorsFile();

 private:
  SafetensorsFile() = default;
  std::filesystem::path path_;
  std::unique_ptr<MappedFile> mapping_;
  std::vector<TensorEntry> tensors_;
  std::map<std::string, size_t> index_;  // name -> position in tensors_
  std::map<std::string, std::string> metadata_;
};

}  // namespace csweep::model
