#pragma once
// Every path a test reads or writes is built here: the source tree's files, the shared model
// fixtures beside the checkout, the csweep executable and per-test scratch folders. No suite
// spells an absolute path or pastes CSWEEP_SOURCE_DIR itself.
#include <cstdlib>
#include <filesystem>
#include <string>

namespace csweep::testing {

// SOURCE/relative (relative to the repository root: "examples/induction.yaml").
inline std::filesystem::path source_path(const std::string& relative) {
  return std::filesystem::path(CSWEEP_SOURCE_DIR) / relative;
}

// The shared fixtures beside the checkout (../shared/fixtures/NAME), e.g. "gpt2-tiny".
inline std::filesystem::path shared_fixture(const std::string& name) {
  return (std::filesystem::path(CSWEEP_SOURCE_DIR) / ".." / "shared" / "fixtures" / name)
      .lexically_normal();
}

// $CSWEEP_BIN (ctest sets it), else BUILD/bin/csweep.
inline std::string csweep_bin() {
  const char* b = std::getenv("CSWEEP_BIN");
  return b && *b ? b : std::string(CSWEEP_BINARY_DIR) + "/bin/csweep";
}

// BUILD/relative.
inline std::filesystem::path build_path(const std::string& relative) {
  return std::filesystem::path(CSWEEP_BINARY_DIR) / relative;
}

// An empty path BUILD/test-tmp/GROUP/NAME (parent created). One GROUP per test binary, so
// binaries ctest runs in parallel never share a folder.
inline std::filesystem::path fresh_test_dir(const std::string& group, const std::string& name) {
  std::filesystem::path d = build_path("test-tmp") / group / name;
  std::filesystem::remove_all(d);
  std::filesystem::create_directories(d.parent_path());
  return d;
}

}  // namespace csweep::testing
