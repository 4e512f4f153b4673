#pragma once
// A read-only, memory-mapped GGUF file (llama.cpp's checkpoint format, versions 2 and 3):
// header, metadata key/values, tensor infos, aligned data section. open() parses and checks
// everything before returning — every count and length read from the file is bounded by the
// bytes left before anything is allocated for it, and every tensor's bytes lie inside the file
// — so a truncated or corrupt file is a one-line csweep::Error naming the file and the key or
// tensor, never a crash or a huge allocation. Torch-free; tensor bytes are never copied here.
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "model/gguf/ggml_types.h"

namespace csweep::model::gguf {

enum class ValueType : uint32_t {
  U8 = 0,
  I8 = 1,
  U16 = 2,
  I16 = 3,
  U32 = 4,
  I32 = 5,
  F32 = 6,
  BOOL = 7,
  STRING = 8,
  ARRAY = 9,
  U64 = 10,
  I64 = 11,
  F64 = 12,
};
const char* value_type_name(ValueType type);

// One metadata value. Integers of every width are widened (signed into i, unsigned into u),
// floats into f; arrays hold their elements (all of elem_type).
struct Value {
  ValueType type = ValueType::U8;
  uint64_t u = 0;
  int64_t i = 0;
  double f = 0;
  bool b = false;
  std::string s;
  ValueType elem_type = ValueType::U8;  // arrays only
  std::vector<Value> array;

  bool is_integer() const;
};

struct TensorInfo {
  std::string name;
  std::vector<uint64_t> dims;  // ggml order: dims[0] is the contiguous (innermost) axis
  uint32_t type = 0;           // ggml type id (GgmlType when known)
  uint64_t offset = 0;         // from the start of the data section
  uint64_t nbytes = 0;
  const std::byte* data = nullptr;  // inside the mapping

  uint64_t numel() const;
  // Row-major (PyTorch / safetensors) shape: dims reversed.
  std::vector<int64_t> shape() const;
};

class GgufFile {
 public:
  static std::shared_ptr<GgufFile> open(const std::filesystem::path& path);

  const std::filesystem::path& path() const { return path_; }
  uint32_t version() const { return version_; }
  uint64_t alignment() const { return alignment_; }
  const std::map<std::string, Value>& metadata() const { return metadata_; }
  const std::vector<TensorInfo>& tensors() const { return tensors_; }  // file order
  const TensorInfo* find_tensor(const std::string& name) const;

  // Typed metadata access; errors read "FILE: metadata 'KEY': REASON".
  const Value* find(const std::string& key) const;
  uint64_t get_uint(const std::string& key) const;  // any non-negative integer type
  std::optional<uint64_t> get_uint_or_none(const std::string& key) const;
  double get_float(const std::string& key) const;  // F32/F64 (or an integer)
  std::optional<double> get_float_or_none(const std::string& key) const;
  std::string get_string(const std::string& key) const;
  std::optional<std::string> get_string_or_none(const std::string& key) const;
  std::optional<bool> get_bool_or_none(const std::string& key) const;
  const std::vector<Value>& get_array(const std::string& key, ValueType elem_type) const;
  bool has(const std::string& key) const { return find(key) != nullptr; }

  GgufFile(const GgufFile&) = delete;
  GgufFile& operator=(const GgufFile&) = delete;
  ~GgufFile();

 private:
  GgufFile() = default;
  [[noreturn]] void metadata_error(const std::string& key, const std::string& reason) const;

  std::filesystem::path path_;
  const std::byte* map_ = nullptr;
  size_t size_ = 0;
  uint32_t version_ = 0;
  uint64_t alignment_ = 32;
  std::map<std::string, Value> metadata_;
  std::vector<TensorInfo> tensors_;
  std::map<std::string, size_t> index_;
};

}  // namespace csweep::model::gguf
