#pragma once
// The generated architecture fixtures (tests/model/reference/make_arch_fixtures.py, run once
// per build tree, not per test process) and the shared GPT-2 fixture. Torch-free, so the
// end-to-end tests of other components can use them too.
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>
#include <stdexcept>
#include <string>

#include "tests/test_paths.h"

namespace csweep::model::testing {

namespace fs = std::filesystem;

inline fs::path gpt2_fixture() { return csweep::testing::shared_fixture("gpt2-tiny"); }

inline std::string read_text(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// Runs the python fixture writer into a directory named by the script's content hash; each
// ctest process reuses it. Written to a temporary name and renamed, so concurrent test
// processes never see a half-written set.
inline fs::path arch_fixtures() {
  static const fs::path dir = [] {
    const fs::path script =
        csweep::testing::source_path("tests/model/reference/make_arch_fixtures.py");
    const std::string key = std::to_string(std::hash<std::string>{}(read_text(script)));
    const fs::path root = csweep::testing::build_path("test_fixtures");
    const fs::path final_dir = root / ("arch-" + key);
    if (fs::exists(final_dir / "done")) return final_dir;
    fs::create_directories(root);
    const fs::path tmp = root / ("arch-" + key + ".tmp." + std::to_string(getpid()));
    fs::remove_all(tmp);
    const std::string cmd = std::string(CSWEEP_PYTHON) + " " + script.string() + " " +
                            tmp.string() + " " + gpt2_fixture().string();
    int rc = std::system(cmd.c_str());
    if (rc != 0) throw std::runtime_error("fixture writer failed: " + cmd);
    std::ofstream(tmp / "done") << "ok\n";
    std::error_code ec;
    fs::rename(tmp, final_dir, ec);
    if (ec) fs::remove_all(tmp);  // another process won the race; its copy is identical
    return final_dir;
  }();
  return dir;
}

}  // namespace csweep::model::testing
