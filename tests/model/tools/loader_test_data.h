#pragma once
// The loader tests' input files, written by make_safetensors.py (beside this header) the first
// time a test asks for them. Python + torch costs ~2-3 s to start, and ctest runs each test in
// its own process, so the files are made once per build directory and per version of the
// script: BUILD/test-data/loader-<hash of the script>. Concurrent first calls each
// write a private folder and rename it into place; the loser discards its copy.
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>
#include <stdexcept>
#include <string>

#include "model/safetensors.h"
#include "tests/test_paths.h"

namespace csweep::test {

inline std::filesystem::path loader_test_data() {
  namespace fs = std::filesystem;
  const fs::path script = csweep::testing::source_path("tests/model/tools/make_safetensors.py");
  std::ifstream in(script, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + script.string());
  std::stringstream text;
  text << in.rdbuf();
  std::ostringstream hash;
  hash << std::hex << std::hash<std::string>{}(text.str());
  const fs::path dir = csweep::testing::build_path("test-data") / ("loader-" + hash.str());
  if (fs::exists(dir / "DONE")) return dir;

  fs::create_directories(dir.parent_path());
  const fs::path tmp = dir.string() + ".tmp." + std::to_string(::getpid());
  fs::remove_all(tmp);
  const std::string cmd =
      std::string(CSWEEP_PYTHON) + " '" + script.string() + "' '" + tmp.string() + "'";
  if (std::system(cmd.c_str()) != 0) throw std::runtime_error("failed: " + cmd);
  std::error_code ec;
  fs::rename(tmp, dir, ec);  // fails if another process got there first: use theirs
  if (ec) fs::remove_all(tmp);
  if (!fs::exists(dir / "DONE")) throw std::runtime_error("no test data in " + dir.string());
  return dir;
}

// The folder, generated at most once per process (the script hash check reads a file).
inline const std::filesystem::path& loader_data_dir() {
  static const std::filesystem::path dir = loader_test_data();
  return dir;
}

// The entry the test data must hold: a missing one fails the test with its name.
inline const model::TensorEntry& tensor_entry(const model::SafetensorsFile& file,
                                              const std::string& name) {
  const model::TensorEntry* entry = file.find(name);
  if (!entry) throw std::runtime_error("no tensor " + name);
  return *entry;
}

}  // namespace csweep::test
