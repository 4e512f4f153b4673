#pragma once
// Shared by the tests/model/torch_model_*_test.cpp files: the generated architecture fixtures
// (tests/model/reference/make_arch_fixtures.py, run once per build tree, not per test process)
// and small tensor helpers.
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <string>

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "model/model.h"
#include "model/safetensors.h"
#include "model/tensor_io.h"
#include "tests/model/reference/arch_fixtures.h"
#include "tests/test_paths.h"

namespace csweep::model::testing {

namespace fs = std::filesystem;

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
