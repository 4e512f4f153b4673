// Checkpoint loading and forward throughput through the real loader path: random Hugging Face
// checkpoints written to disk (make_random_checkpoint.py) -> CheckpointFiles -> Model::load ->
// forward, for a GPT-2-small-shaped and a Llama-shaped model, fp32 and bf16, batch 1 and 32
// x 16 tokens. The plain LibTorch GEMM rate is measured in the same run: the forward's matmul
// GFLOP/s as a share of it is the figure of merit. A benchmark, not a test: nothing is asserted.
//
// usage: bench_forward [--threads N (2)] [--iters N (3)] [--dir DIR (/tmp/csweep-bench-ckpt)]
//                      [--model CHECKPOINT_DIR]
// --model: that one checkpoint folder (a real model, e.g. SmolLM2-135M from scripts/fetch-gguf.sh)
// instead of the two random ones; bench/peers/peers.py --forward times the same shapes in
// Transformers and TransformerLens.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <ATen/core/grad_mode.h>

#include "bench/bench_timing.h"
#include "model/checkpoint_files.h"
#include "model/model.h"
#include "model/tensor_io.h"

namespace fs = std::filesystem;
using namespace csweep::model;

using csweep::bench::best_ms;

namespace {

double gemm_gflops(int64_t m, int64_t k, int64_t n, at::ScalarType dtype, int iters) {
  at::Tensor a = at::randn({m, k}).to(dtype), b = at::randn({k, n}).to(dtype);
  const double ms = best_ms(iters, [&] { (void)at::mm(a, b); });
  return 2.0 * m * k * n / (ms * 1e6);
}

// Matmul FLOPs of one forward with Logits::Last: projections and MLP on every token, the
// attention products on the causal square, the unembedding on the last position only.
double forward_flops(const ModelConfig& c, int64_t batch, int64_t seq) {
  const double tokens = static_cast<double>(batch * seq);
  const double attn_params = c.d_model * (c.d_q() + 2.0 * c.d_kv()) + c.d_q() * double(c.d_model);
  const double mlp_params = (c.gated_mlp ? 3.0 : 2.0) * c.d_model * c.d_mlp;
  const double per_layer = 2.0 * tokens * (attn_params + mlp_params) +
                           2.0 * 2.0 * batch * c.n_heads * double(seq) * seq * c.d_head;
  return c.n_layers * per_layer + 2.0 * batch * c.d_model * double(c.d_vocab);
}

const char* dtype_label(at::ScalarType t) { return t == at::kBFloat16 ? "bf16" : "fp32"; }

}  // namespace

int main(int argc, char** argv) {
  int threads = 2, iters = 3;
  fs::path dir = "/tmp/csweep-bench-ckpt";
  std::vector<fs::path> checkpoints;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--threads" && i + 1 < argc)
      threads = std::atoi(argv[++i]);
    else if (a == "--iters" && i + 1 < argc)
      iters = std::atoi(argv[++i]);
    else if (a == "--dir" && i + 1 < argc)
      dir = argv[++i];
    else if (a == "--model" && i + 1 < argc)
      checkpoints.push_back(argv[++i]);
    else {
      std::fprintf(stderr,
                   "usage: bench_forward [--threads N] [--iters N] [--dir DIR] [--model DIR]\n");
      return 2;
    }
  }
  at::set_num_threads(threads);
  at::NoGradGuard no_grad;

  if (checkpoints.empty()) {
    if (!fs::exists(dir / "gpt2-small/config.json") ||
        !fs::exists(dir / "llama-small/config.json")) {
      const std::string cmd = std::string(CSWEEP_PYTHON) + " '" + CSWEEP_SOURCE_DIR +
                              "/bench/loader/make_random_checkpoint.py' '" + dir.string() + "'";
      std::printf("writing random checkpoints: %s\n", cmd.c_str());
      if (std::system(cmd.c_str()) != 0) return 1;
    }
    checkpoints = {dir / "gpt2-small", dir / "llama-small"};
  }

  std::printf("threads %d (at::get_num_threads %d), best of %d\n\n", threads, at::get_num_threads(),
              iters);
  std::printf("GEMM peak (at::mm)            fp32 GFLOP/s   bf16 GFLOP/s\n");
  const double peak_f32 = gemm_gflops(1024, 1024, 1024, at::kFloat, iters);
  const double peak_bf16 = gemm_gflops(1024, 1024, 1024, at::kBFloat16, iters);
  std::printf("  1024x1024 @ 1024x1024       %10.1f     %10.1f\n", peak_f32, peak_bf16);
  std::printf("  768x768 @ 768x512           %10.1f     %10.1f\n\n",
              gemm_gflops(768, 768, 512, at::kFloat, iters),
              gemm_gflops(768, 768, 512, at::kBFloat16, iters));

  // open: map + validate; to_tensor: every tensor out of the (page-cached) mapping into owned
  // memory of the compute dtype; Model::load: that plus the arch's layout conversion.
  std::printf("%-12s %-5s %9s %13s %13s %10s %10s\n", "checkpoint", "dtype", "open ms",
              "to_tensor ms", "to_tensor GB/s", "load ms", "load GB/s");
  for (const fs::path& path : checkpoints) {
    const std::string name = path.filename().string();
    const double open_ms = best_ms(iters, [&] { (void)CheckpointFiles::open(path); });
    const CheckpointFiles files = CheckpointFiles::open(path);
    const double bytes = static_cast<double>(files.total_bytes());
    for (at::ScalarType dtype : {at::kFloat, at::kBFloat16}) {
      const double convert = best_ms(iters, [&] {
        for (const auto& n : files.names()) (void)to_tensor(*files.find(n), dtype, at::kCPU);
      });
      const double load = best_ms(1, [&] { (void)Model::load(path, {dtype, at::kCPU}); });
      std::printf("%-12s %-5s %9.2f %13.1f %13.2f %10.1f %10.2f\n", name.c_str(),
                  dtype_label(dtype), open_ms, convert, bytes / (convert * 1e6), load,
                  bytes / (load * 1e6));
    }
  }

  std::printf("\n%-12s %-5s %-8s %12s %12s %10s %8s\n", "model", "dtype", "b x p", "ms/forward",
              "tokens/s", "GFLOP/s", "% peak");
  for (const fs::path& path : checkpoints) {
    const std::string name = path.filename().string();
    for (at::ScalarType dtype : {at::kFloat, at::kBFloat16}) {
      auto model = Model::load(path, {dtype, at::kCPU});
      for (int64_t batch : {1, 32}) {
        const int64_t seq = 16;
        at::Tensor tokens = at::randint(model->config().d_vocab, {batch, seq}, at::kLong);
        ForwardOptions options;
        options.logits = ForwardOptions::Logits::Last;
        const double ms = best_ms(iters, [&] { (void)model->forward(tokens, nullptr, options); });
        const double gflops = forward_flops(model->config(), batch, seq) / (ms * 1e6);
        const double peak = dtype == at::kBFloat16 ? peak_bf16 : peak_f32;
        std::printf("%-12s %-5s %3lld x %-3lld %12.1f %12.0f %10.1f %7.0f%%\n", name.c_str(),
                    dtype_label(dtype), static_cast<long long>(batch), static_cast<long long>(seq),
                    ms, batch * seq / (ms / 1e3), gflops, 100.0 * gflops / peak);
      }
    }
  }
  return 0;
}
