// Sweep tables computed on a GPU against the CPU's, on the fixture and the random models of
// every architecture: the fast path on cuda equals the CPU (fp32 <= 1e-4), the plain
// one-forward-per-patch loop on cuda equals its fast path, and bf16 on cuda is as close to the
// fp32 table as bf16 on the CPU is (within 1.5x, or 0.05). Skipped where no GPU exists
// (scripts/gpu-check.sh runs them on one).
#include <gtest/gtest.h>

#include "model/cuda_backend.h"
#include "random_models.h"
#include "tests/analyses/request_grid.h"

namespace csweep::analyses {
namespace {

using model::HookPoint;

std::shared_ptr<model::Model> on_device(const model::Model& m, c10::ScalarType dtype,
                                        c10::Device device) {
  model::Weights w = m.weights();
  for (auto& [name, t] : w.named()) *t = t->to(device, dtype);
  return std::make_shared<model::Model>(m.config(), std::move(w), dtype, device);
}

double max_diff(const std::vector<float>& a, const std::vector<float>& b) {
  EXPECT_EQ(a.size(), b.size());
  double d = 0.0;
  for (size_t i = 0; i < std::min(a.size(), b.size()); ++i)
    d = std::max(d, std::abs(double(a[i]) - b[i]));
  return d;
}

TEST(GpuSweep, CudaTablesEqualTheCpuOnEveryArchitecture) {
  if (model::cuda_device_count() == 0) GTEST_SKIP() << "no CUDA GPU on this machine";
  const c10::Device cuda("cuda:0");
  const std::vector<std::pair<std::string, std::shared_ptr<model::Model>>> models = {
      {"gpt2-fixture", testing::load_fixture_gpt2()},
      {"neox", testing::random_neox(1)},
      {"llama", testing::random_llama(2)},
      {"mistral", testing::random_mistral(3)},
      {"qwen3", testing::random_qwen3(4)}};
  for (const auto& [name, cpu] : models) {
    auto gpu = on_device(*cpu, at::kFloat, cuda);
    auto gpu16 = on_device(*cpu, at::kBFloat16, cuda);
    auto cpu16 = on_device(*cpu, at::kBFloat16, at::kCPU);
    for (HookPoint point : {HookPoint::ResidPre, HookPoint::AttnZ, HookPoint::AttnPattern}) {
      SweepRequest r;
      const int64_t v = cpu->config().d_vocab;
      r.clean_tokens = {11, 42, 7 % v, 99, 5, 123, 42, 77, 3, 250 % v};
      r.corrupted_tokens = r.clean_tokens;
      r.corrupted_tokens[1] = 300 % v;
      r.corrupted_tokens[6] = 17;
      r.answers = {{13, 29}};
      r.point = point;
      const int64_t n = grid_cells(grid_axes(r, cpu->config()));
      CacheStore cpu_caches, gpu_caches, gpu16_caches, cpu16_caches;
      const auto want = run_cells(*cpu, r, 0, n, cpu_caches);
      const auto fast = run_cells(*gpu, r, 0, n, gpu_caches);
      const auto plain = run_cells_plain(*gpu, r, 0, n, gpu_caches);
      const auto bf16 = run_cells(*gpu16, r, 0, n, gpu16_caches);
      const auto cpu_bf16 = run_cells(*cpu16, r, 0, n, cpu16_caches);
      const double e_fast = max_diff(fast, want), e_plain = max_diff(plain, fast),
                   e_bf16 = max_diff(bf16, want), e_cpu_bf16 = max_diff(cpu_bf16, want);
      std::printf(
          "[cuda vs cpu] %-14s %-18s %5ld cells: fp32 fast %.2g, cuda plain vs fast %.2g, bf16 vs "
          "fp32: "
          "cuda %.3g, cpu %.3g\n",
          name.c_str(), model::point_suffix(point), static_cast<long>(n), e_fast, e_plain, e_bf16,
          e_cpu_bf16);
      EXPECT_LE(e_fast, 1e-4) << name;
      EXPECT_LE(e_plain, 1e-4) << name;
      EXPECT_LE(e_bf16, std::max(1.5 * e_cpu_bf16, 0.05)) << name;
    }
  }
}

}  // namespace
}  // namespace csweep::analyses
