#pragma once
// Shared by the tests/model/torch_model_*_test.cpp files: the generated architecture fixtures
// (tests/model/reference/make_arch_fixtures.py, run once per build tree, not per test process)
// and small tensor helpers.
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "model/model.h"
#include "model/safetensors.h"
#include "model/tensor_io.h"
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

// A tensor of a safetensors file, as `dtype` on the CPU.
inline at::Tensor read_tensor(const fs::path& file, const std::string& name,
                              c10::ScalarType dtype = at::kFloat) {
  auto f = SafetensorsFile::open(file);
  const TensorEntry* e = f->find(name);
  if (!e) throw std::runtime_error(file.string() + ": no tensor " + name);
  return to_tensor(*e, dtype, at::kCPU);
}

inline double max_abs_diff(const at::Tensor& a, const at::Tensor& b) {
  EXPECT_EQ(a.sizes(), b.sizes());
  if (a.sizes() != b.sizes()) return 1e30;
  at::Tensor fa = a.to(at::kDouble), fb = b.to(at::kDouble);
  // -inf entries (masked attention scores) must agree exactly and are excluded from the max.
  at::Tensor both_inf = fa.isinf().logical_and(fb.isinf()).logical_and(fa == fb);
  at::Tensor diff = (fa - fb).abs().masked_fill(both_inf, 0);
  return diff.max().item<double>();
}

// The cached batch-1 run Model::resume reads (every resume_sites() site) for `tokens`.
inline std::map<HookSite, at::Tensor> resume_cache(const Model& m, const at::Tensor& tokens) {
  Hooks h;
  for (const HookSite& s : resume_sites(m.config())) h.cache(s);
  m.forward(tokens, &h);
  return h.cache();
}

}  // namespace csweep::model::testing
