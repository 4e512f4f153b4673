#include "store/provenance.h"

#include <hdf5.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <vector>

#define XXH_INLINE_ALL
#include <xxhash.h>

#ifndef CSWEEP_GIT_SHA
#define CSWEEP_GIT_SHA "unknown"
#endif
#ifndef CSWEEP_VERSION
#define CSWEEP_VERSION "unknown"
#endif

namespace fs = std::filesystem;

namespace csweep::store {

nlohmann::json build_info() {
  unsigned maj = 0, min = 0, rel = 0;
  H5get_libversion(&maj, &min, &rel);
  return {
      {"csweep_version", CSWEEP_VERSION},
      {"git_sha", CSWEEP_GIT_SHA},
      {"hdf5_version", std::to_string(maj) + "." + std::to_string(min) + "." + std::to_string(rel)},
      {"compiler", std::string("gcc ") + __VERSION__}};
}

namespace {
std::string hex128(const XXH128_hash_t& h) {
  char out[33];
  std::snprintf(out, sizeof out, "%016llx%016llx", static_cast<unsigned long long>(h.high64),
                static_cast<unsigned long long>(h.low64));
  return out;
}

// XXH3-128 of byte ranges of one file, read in 4 MiB pieces.
class FileHasher {
 public:
  explicit FileHasher(const fs::path& file) : in_(file, std::ios::binary), buf_(4 << 20) {
    XXH3_128bits_reset(&state_);
  }
  bool ok() const { return static_cast<bool>(in_); }
  void add(const void* data, size_t n) { XXH3_128bits_update(&state_, data, n); }
  void add_range(uint64_t begin, uint64_t length) {
    in_.clear();
    in_.seekg(static_cast<std::streamoff>(begin));
    while (length > 0 && in_) {
      const size_t take = static_cast<size_t>(std::min<uint64_t>(length, buf_.size()));
      in_.read(buf_.data(), static_cast<std::streamsize>(take));
      const auto got = static_cast<size_t>(in_.gcount());
      add(buf_.data(), got);
      if (got < take) break;
      length -= take;
    }
  }
  std::string hex() const { return hex128(XXH3_128bits_digest(&state_)); }

 private:
  std::ifstream in_;
  std::vector<char> buf_;
  XXH3_state_t state_;
};
}  // namespace

nlohmann::json hash_model_files(const fs::path& model_dir) {
  nlohmann::json out = nlohmann::json::array();
  std::vector<fs::path> files;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(model_dir, ec))
    if (e.is_regular_file()) files.push_back(e.path());
  std::sort(files.begin(), files.end());
  for (const auto& f : files) {
    const uint64_t size = fs::file_size(f, ec);
    FileHasher hasher(f);
    if (!hasher.ok()) continue;
    std::string kind = kModelHashKind;
    if (size <= kFullHashLimit) {
      hasher.add_range(0, size);
    } else {
      kind += "-sampled";
      const uint64_t part = 16ull << 20;
      const std::string head = std::to_string(size) + "\n";
      hasher.add(head.data(), head.size());
      hasher.add_range(0, part);
      hasher.add_range(size - part, part);
    }
    out.push_back({{"file", f.filename().string()},
                   {"bytes", size},
                   {"hash_kind", kind},
                   {"hash", hasher.hex()}});
  }
  return out;
}

namespace {
bool is_weight_or_config(const std::string& name) {
  auto ends_with = [&](const std::string& tail) {
    return name.size() >= tail.size() &&
           name.compare(name.size() - tail.size(), tail.size(), tail) == 0;
  };
  return name == "config.json" || ends_with(".safetensors") || ends_with(".safetensors.index.json");
}
}  // namespace

std::string model_content_hash(const nlohmann::json& model_files) {
  std::string text;
  for (const auto& f : model_files) {
    const std::string name = f.value("file", "");
    if (is_weight_or_config(name))
      text += name + "\t" + f.value("hash_kind", "") + "\t" + f.value("hash", "") + "\n";
  }
  return hex128(XXH3_128bits(text.data(), text.size()));
}

bool same_hash_kinds(const nlohmann::json& a, const nlohmann::json& b) {
  auto kinds = [](const nlohmann::json& files) {
    std::vector<std::string> k;
    if (files.is_array())
      for (const auto& f : files) k.push_back(f.value("hash_kind", ""));
    return k;
  };
  return kinds(a) == kinds(b);
}

}  // namespace csweep::store
