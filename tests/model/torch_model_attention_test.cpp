// The fused attention path (at::scaled_dot_product_attention) against the explicit softmax
// path on every architecture fixture: full forwards, resumed groups over every start, the
// fall-back when a hook needs scores or the pattern; and, where a GPU exists, cuda against cpu.
#include <ATen/detail/CUDAHooksInterface.h>

#include "common/error.h"
#include "model/cuda_backend.h"
#include "model/model.h"
#include "tests/model/reference/model_test_util.h"

namespace csweep::model {
namespace {

using namespace testing;  // model_test_util.h: fixtures, read_tensor, max_abs_diff, resume_cache

const std::vector<std::string> kVariants = {
    "neox_parallel", "neox_sequential", "llama_gqa_llama3_tied", "llama_untied", "mistral", "qwen2",
    "qwen3"};

std::vector<std::filesystem::path> all_fixtures() {
  std::vector<std::filesystem::path> dirs{gpt2_fixture()};
  for (const auto& v : kVariants) dirs.push_back(arch_fixtures() / v);
  return dirs;
}

at::Tensor tokens_of(const std::filesystem::path& dir, const Model& m) {
  if (dir == gpt2_fixture())
    return read_tensor(dir / "activations.safetensors", "tokens/clean", at::kLong);
  return read_tensor(dir / "reference.safetensors", "tokens", at::kLong)
      .remainder(m.config().d_vocab);
}

// Every (block, first position) start, whole-block and after-attention, as one resume call.
std::vector<ResumeGroup> every_start(const Model& m, int64_t p) {
  std::vector<ResumeGroup> groups;
  for (int64_t l = 0; l < m.config().n_layers; ++l) {
    for (int64_t f = 0; f < p; ++f) {
      groups.push_back({2, l, f, 0, nullptr});
      groups.push_back({1, l, f, f + 1, nullptr});
    }
  }
  return groups;
}

// A patch of resid_pre at position 2 of block 1 (something for the resumed rows to carry).
void add_patch(Hooks& h, int64_t shift) {
  h.add({HookPoint::ResidPre, 1},
        [=](at::Tensor& act, const HookSite&) { act.narrow(1, 2 - shift, 1).mul_(-3.0); });
}

TEST(TorchModelAttention, FusedEqualsExplicitOnEveryArchitectureFp32) {
  for (const auto& dir : all_fixtures()) {
    auto m = Model::load(dir);
    at::Tensor tokens = tokens_of(dir, *m);
    ASSERT_EQ(m->attention(), Attention::Fused);
    at::Tensor fused = m->forward(tokens);
    Hooks fused_hooks;
    add_patch(fused_hooks, 0);
    at::Tensor fused_patched = m->forward(tokens, &fused_hooks);
    const auto cache = resume_cache(*m, tokens.narrow(0, 0, 1));
    const auto groups = every_start(*m, tokens.size(1));
    at::Tensor fused_resumed = m->resume(cache, groups);

    m->set_attention(Attention::Explicit);
    at::Tensor expl = m->forward(tokens);
    Hooks explicit_hooks;
    add_patch(explicit_hooks, 0);
    at::Tensor explicit_patched = m->forward(tokens, &explicit_hooks);
    at::Tensor explicit_resumed = m->resume(cache, groups);

    const double e_logits = max_abs_diff(fused, expl),
                 e_patched = max_abs_diff(fused_patched, explicit_patched),
                 e_resumed = max_abs_diff(fused_resumed, explicit_resumed);
    std::printf("%-40s fused vs explicit: logits %.2g, patched %.2g, resumed %.2g\n",
                dir.filename().c_str(), e_logits, e_patched, e_resumed);
    EXPECT_LE(e_logits, 1e-5) << dir;
    EXPECT_LE(e_patched, 1e-5) << dir;
    EXPECT_LE(e_resumed, 1e-5) << dir;
    EXPECT_GT(max_abs_diff(fused_patched, fused), 1e-3) << dir << ": the patch must matter";
  }
}

TEST(TorchModelAttention, FusedIsAsCloseToFp32AsExplicitInBf16) {
  for (const auto& dir : all_fixtures()) {
    auto truth = Model::load(dir);
    at::Tensor tokens = tokens_of(dir, *truth);
    at::Tensor want = truth->forward(tokens);
    auto m = Model::load(dir, {at::kBFloat16, at::kCPU});
    const double fused = max_abs_diff(m->forward(tokens).to(at::kFloat), want);
    m->set_attention(Attention::Explicit);
    const double expl = max_abs_diff(m->forward(tokens).to(at::kFloat), want);
    std::printf("%-40s bf16 vs fp32: fused %.3g, explicit %.3g\n", dir.filename().c_str(), fused,
                expl);
    // The fused kernel accumulates the softmax in fp32: never much worse than the bf16 explicit
    // path.
    EXPECT_LE(fused, std::max(1.5 * expl, 0.05)) << dir;
  }
}

// A hook on the pattern (or scores) sees it and its edit takes effect: those attention calls
// fall back to the explicit path, the others stay fused.
TEST(TorchModelAttention, HookedPatternFallsBackToTheExplicitPath) {
  auto m = Model::load(arch_fixtures() / "llama_gqa_llama3_tied");
  at::Tensor tokens = tokens_of(arch_fixtures() / "llama_gqa_llama3_tied", *m);
  auto edit = [](Hooks& h) {
    h.cache({HookPoint::AttnPattern, 1});
    h.add({HookPoint::AttnScores, 0},
          [](at::Tensor& act, const HookSite&) { act.narrow(-1, 0, 1).add_(2.0); });
  };
  Hooks fused_hooks, explicit_hooks;
  edit(fused_hooks);
  at::Tensor fused = m->forward(tokens, &fused_hooks);
  m->set_attention(Attention::Explicit);
  edit(explicit_hooks);
  at::Tensor expl = m->forward(tokens, &explicit_hooks);
  EXPECT_LE(max_abs_diff(fused, expl), 1e-5);
  EXPECT_LE(max_abs_diff(fused_hooks.cache().at({HookPoint::AttnPattern, 1}),
                         explicit_hooks.cache().at({HookPoint::AttnPattern, 1})),
            1e-6);
  EXPECT_GT(max_abs_diff(fused, m->forward(tokens)), 1e-4) << "the scores edit must matter";
}

// The CUDA half of LibTorch loads into every build (all its symbols resolve against the CPU
// half we link) and registers the real CUDA runtime hooks, GPU or not.
TEST(TorchModelDevice, CudaBackendLoads) {
  std::string why;
  ASSERT_TRUE(load_cuda_backend(&why)) << why;
  EXPECT_TRUE(at::detail::getCUDAHooks().hasCUDART());
}

TEST(TorchModelDevice, CudaWithoutAGpuIsAOneLineError) {
  if (cuda_device_count() > 0) GTEST_SKIP() << "this machine has a GPU";
  try {
    Model::load(gpt2_fixture(), {at::kFloat, c10::Device("cuda:0")});
    FAIL() << "no error";
  } catch (const Error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("cuda:0"), std::string::npos) << what;
    EXPECT_NE(what.find("no CUDA GPU"), std::string::npos) << what;
    EXPECT_EQ(what.find('\n'), std::string::npos) << what;
  }
}

// ---- on a GPU (scripts/gpu-check.sh runs these where one exists) -------------------------

bool have_gpu() { return cuda_device_count() > 0; }

TEST(TorchModelGpu, CudaLogitsEqualCpuOnEveryArchitecture) {
  if (!have_gpu()) GTEST_SKIP() << "no CUDA GPU on this machine";
  for (const auto& dir : all_fixtures()) {
    auto cpu = Model::load(dir);
    at::Tensor tokens = tokens_of(dir, *cpu);
    at::Tensor want = cpu->forward(tokens);
    auto gpu = Model::load(dir, {at::kFloat, c10::Device("cuda:0")});
    const double fp32 = max_abs_diff(gpu->forward(tokens).cpu(), want);
    const auto cache = resume_cache(*gpu, tokens.narrow(0, 0, 1));
    const auto groups = every_start(*gpu, tokens.size(1));
    const auto cpu_cache = resume_cache(*cpu, tokens.narrow(0, 0, 1));
    const double resumed =
        max_abs_diff(gpu->resume(cache, groups).cpu(), cpu->resume(cpu_cache, groups));
    auto gpu16 = Model::load(dir, {at::kBFloat16, c10::Device("cuda:0")});
    const double bf16 = max_abs_diff(gpu16->forward(tokens).cpu().to(at::kFloat), want);
    auto cpu16 = Model::load(dir, {at::kBFloat16, at::kCPU});
    const double cpu_bf16 = max_abs_diff(cpu16->forward(tokens).to(at::kFloat), want);
    std::printf(
        "%-40s cuda vs cpu: fp32 logits %.2g, resumed %.2g; bf16 vs fp32 logits: cuda %.3g, cpu "
        "%.3g\n",
        dir.filename().c_str(), fp32, resumed, bf16, cpu_bf16);
    EXPECT_LE(fp32, 1e-4) << dir;
    EXPECT_LE(resumed, 1e-4) << dir;
    // bf16's own error (0.03-0.35 on these fixtures' logits): the GPU's must be of the CPU's size.
    EXPECT_LE(bf16, std::max(1.5 * cpu_bf16, 0.05)) << dir;
  }
}

}  // namespace
}  // namespace csweep::model
