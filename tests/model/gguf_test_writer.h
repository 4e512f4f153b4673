#pragma once
// Writes small GGUF files for the tests, byte by byte as the format specifies, so the reader
// and converter are tested on files no GGUF library produced (and on deliberately broken ones).
#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "model/gguf/ggml_types.h"
#include "tests/test_paths.h"

namespace csweep::test {

// The folder for this process's files of one GGUF suite (BUILD/test-tmp/gguf/SUITE-PID):
// ctest runs the suite's tests as parallel processes, each writing the same file names.
inline std::filesystem::path gguf_scratch_dir(const std::string& suite) {
  const std::filesystem::path d =
      csweep::testing::build_path("test-tmp") / "gguf" / (suite + "-" + std::to_string(::getpid()));
  std::filesystem::create_directories(d);
  return d;
}

class GgufWriter {
 public:
  explicit GgufWriter(uint32_t version = 3, uint64_t alignment = 32)
      : version_(version), alignment_(alignment) {}

  // Metadata values (the GGUF value type ids: 4 uint32, 5 int32, 6 float32, 7 bool, 8 string, 9
  // array).
  void u32(const std::string& key, uint32_t v) { kv(key, 4, pod(v)); }
  void i32(const std::string& key, int32_t v) { kv(key, 5, pod(v)); }
  void f32(const std::string& key, float v) { kv(key, 6, pod(v)); }
  void boolean(const std::string& key, bool v) { kv(key, 7, std::string(1, v ? '\1' : '\0')); }
  void str(const std::string& key, const std::string& v) { kv(key, 8, string_bytes(v)); }
  void str_array(const std::string& key, const std::vector<std::string>& v) {
    std::string b = pod(uint32_t(8)) + pod(uint64_t(v.size()));
    for (const auto& s : v) b += string_bytes(s);
    kv(key, 9, b);
  }
  void i32_array(const std::string& key, const std::vector<int32_t>& v) {
    std::string b = pod(uint32_t(5)) + pod(uint64_t(v.size()));
    for (int32_t x : v) b += pod(x);
    kv(key, 9, b);
  }
  // A raw key/value (for broken entries).
  void kv(const std::string& key, uint32_t type, const std::string& value_bytes) {
    kvs_ += string_bytes(key) + pod(type) + value_bytes;
    ++n_kv_;
  }

  // A tensor: dims in ggml order (dims[0] contiguous), raw block bytes.
  void tensor(const std::string& name, std::vector<uint64_t> dims, model::gguf::GgmlType type,
              std::string bytes) {
    tensors_.push_back({name, std::move(dims), uint32_t(type), std::move(bytes)});
  }
  void tensor_f32(const std::string& name, std::vector<uint64_t> dims,
                  const std::vector<float>& v) {
    std::string b(v.size() * 4, '\0');
    std::memcpy(b.data(), v.data(), b.size());
    tensor(name, std::move(dims), model::gguf::GgmlType::F32, b);
  }

  std::string bytes() const {
    std::string out = "GGUF" + pod(version_) + pod(uint64_t(tensors_.size())) + pod(n_kv_) + kvs_;
    uint64_t offset = 0;
    std::vector<uint64_t> offsets;
    for (const auto& t : tensors_) {
      out += string_bytes(t.name) + pod(uint32_t(t.dims.size()));
      for (uint64_t d : t.dims) out += pod(d);
      out += pod(t.type) + pod(offset);
      offsets.push_back(offset);
      offset = align(offset + t.bytes.size());
    }
    out.resize(align(out.size()), '\0');
    const size_t data_start = out.size();
    for (size_t i = 0; i < tensors_.size(); ++i) {
      out.resize(data_start + offsets[i], '\0');
      out += tensors_[i].bytes;
    }
    return out;
  }
  void write(const std::filesystem::path& path) const { write_bytes(path, bytes()); }

  static void write_bytes(const std::filesystem::path& path, const std::string& b) {
    std::ofstream(path, std::ios::binary | std::ios::trunc)
        .write(b.data(), std::streamsize(b.size()));
  }
  template <typename T>
  static std::string pod(T v) {
    std::string s(sizeof(T), '\0');
    std::memcpy(s.data(), &v, sizeof(T));
    return s;
  }
  static std::string string_bytes(const std::string& s) { return pod(uint64_t(s.size())) + s; }

 private:
  struct Tensor {
    std::string name;
    std::vector<uint64_t> dims;
    uint32_t type;
    std::string bytes;
  };
  uint64_t align(uint64_t x) const { return (x + alignment_ - 1) / alignment_ * alignment_; }
  uint32_t version_;
  uint64_t alignment_;
  uint64_t n_kv_ = 0;
  std::string kvs_;
  std::vector<Tensor> tensors_;
};

}  // namespace csweep::test
