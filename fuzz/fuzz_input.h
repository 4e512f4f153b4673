#pragma once
// What every fuzz target shares: a private scratch folder per process (the parsers read files,
// so the fuzzed bytes are written to one first) and the one verdict a target gives: a
// csweep::Error is the parser refusing the input cleanly; anything else that escapes (another
// exception, a crash, a sanitizer report, an out-of-memory) is a defect libFuzzer reports.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>

#include "common/error.h"

namespace csweep::fuzz {

// A fresh folder under $TMPDIR (or /tmp), unique to this process, created on first use.
inline const std::filesystem::path& scratch_dir() {
  static const std::filesystem::path dir = [] {
    const char* tmp = std::getenv("TMPDIR");
    std::filesystem::path d =
        std::filesystem::path(tmp ? tmp : "/tmp") / ("csweep-fuzz-" + std::to_string(getpid()));
    std::filesystem::create_directories(d);
    return d;
  }();
  return dir;
}

inline std::string_view as_text(const uint8_t* data, size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

// Writes BYTES to scratch_dir()/NAME (replacing it) and returns the path.
inline std::filesystem::path write_scratch(const std::string& name, std::string_view bytes) {
  std::filesystem::path p = scratch_dir() / name;
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  return p;
}

// Runs PARSE; a csweep::Error is a clean refusal, whose message must be one line.
template <class Parse>
void expect_clean(Parse&& parse) {
  try {
    parse();
  } catch (const csweep::Error& e) {
    if (std::string_view(e.what()).empty()) __builtin_trap();
  }
}

}  // namespace csweep::fuzz
