#include "store/provenance.h"

#include <hdf5.h>

#include <algorithm>
#include <fstream>
#include <vector>

#include "common/sha256.h"

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
  return {{"csweep_version", CSWEEP_VERSION},
          {"git_sha", CSWEEP_GIT_SHA},
          {"hdf5_version", std::to_string(maj) + "." + std::to_string(min) + "." + std::to_string(rel)},
          {"compiler", std::string("gcc ") + __VERSION__}};
}

namespace {
void hash_range(std::ifstream& in, uint64_t begin, uint64_t length, Sha256& sha) {
  std::vector<char> buf(1 << 20);
  in.clear();
  in.seekg(static_cast<std::streamoff>(begin));
  while (length > 0 && in) {
    const size_t take = static_cast<size_t>(std::min<uint64_t>(length, buf.size()));
    in.read(buf.data(), static_cast<std::streamsize>(take));
    const auto got = static_cast<size_t>(in.gcount());
    sha.update(buf.data(), got);
    if (got < take) break;
    length -= take;
  }
}
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
    std::ifstream in(f, std::ios::binary);
    if (!in) continue;
    Sha256 sha;
    std::string kind = "sha256";
    if (size <= kFullHashLimit) {
      hash_range(in, 0, size, sha);
    } else {
      kind = "sha256-sampled";
      const uint64_t part = 16ull << 20;
      const std::string head = std::to_string(size) + "\n";
      sha.update(head.data(), head.size());
      hash_range(in, 0, part, sha);
      hash_range(in, size - part, part, sha);
    }
    out.push_back({{"file", f.filename().string()}, {"bytes", size}, {"hash_kind", kind}, {"hash", sha.hex_digest()}});
  }
  return out;
}

}  // namespace csweep::store
