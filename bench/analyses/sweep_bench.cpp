// The product's reason to exist, measured: the full layer x position x head sweep of
// attn.hook_z (12 x 16 x 12 = 2304 patched runs) and the resid_pre layer x position sweep on a
// GPT-2-small-shaped random model with a 16-token prompt, fast path vs the plain
// one-full-forward-per-patch loop in the same binary, fp32 and bf16, and the fraction of the
// machine's measured GEMM peak the fast path reaches.
//
//   bench_analyses_sweep [--dtype fp32|bf16|both] [--plain-sample N] [--threads N]
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Parallel.h>

#include "analyses/sweep.h"

using namespace csweep;
using Clock = std::chrono::steady_clock;

namespace {

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

model::ModelConfig gpt2_small() {
  model::ModelConfig c;
  c.arch = model::Arch::Gpt2;
  c.hf_architecture = "GPT2LMHeadModel";
  c.n_layers = 12;
  c.d_model = 768;
  c.n_heads = c.n_kv_heads = 12;
  c.d_head = 64;
  c.d_mlp = 3072;
  c.d_vocab = 50257;
  c.n_ctx = 1024;
  c.norm = model::NormKind::LayerNorm;
  c.activation = model::Activation::GeluTanh;
  c.qkv_bias = c.attn_out_bias = c.mlp_bias = true;
  c.learned_pos_embed = true;
  c.tie_word_embeddings = true;
  c.attn_scale = 0.125;
  return c;
}

// Random weights, GPT-2 initialisation scale, in the model's canonical layout.
std::shared_ptr<model::Model> random_gpt2_small(c10::ScalarType dtype) {
  const auto c = gpt2_small();
  at::Generator gen = at::detail::createCPUGenerator(1234);
  auto normal = [&](at::IntArrayRef shape, double std) { return (at::randn(shape, gen, at::kFloat) * std).to(dtype); };
  auto ones = [&](int64_t n) { return at::ones({n}, at::kFloat).to(dtype); };
  model::Weights w;
  w.W_E = normal({c.d_vocab, c.d_model}, 0.02);
  w.W_pos = normal({c.n_ctx, c.d_model}, 0.01);
  for (int64_t l = 0; l < c.n_layers; ++l) {
    model::LayerWeights lw;
    lw.ln1_w = ones(c.d_model);
    lw.ln1_b = normal({c.d_model}, 0.02);
    lw.ln2_w = ones(c.d_model);
    lw.ln2_b = normal({c.d_model}, 0.02);
    lw.W_Q = normal({c.d_q(), c.d_model}, 0.02);
    lw.W_K = normal({c.d_kv(), c.d_model}, 0.02);
    lw.W_V = normal({c.d_kv(), c.d_model}, 0.02);
    lw.b_Q = normal({c.d_q()}, 0.02);
    lw.b_K = normal({c.d_kv()}, 0.02);
    lw.b_V = normal({c.d_kv()}, 0.02);
    lw.W_O = normal({c.d_model, c.d_q()}, 0.02);
    lw.b_O = normal({c.d_model}, 0.02);
    lw.W_in = normal({c.d_mlp, c.d_model}, 0.02);
    lw.b_in = normal({c.d_mlp}, 0.02);
    lw.W_out = normal({c.d_model, c.d_mlp}, 0.02);
    lw.b_out = normal({c.d_model}, 0.02);
    w.layers.push_back(lw);
  }
  w.ln_final_w = ones(c.d_model);
  w.ln_final_b = normal({c.d_model}, 0.02);
  w.W_U = w.W_E;
  return std::make_shared<model::Model>(c, w, dtype, at::kCPU);
}

// Measured GEMM throughput for the shapes a batched forward runs ([B*P, d] x [d, 4d]).
double gemm_peak_gflops(c10::ScalarType dtype) {
  at::Tensor a = at::randn({2048, 768}).to(dtype), b = at::randn({3072, 768}).to(dtype);
  at::linear(a, b);  // warm-up
  const int reps = 10;
  auto t0 = Clock::now();
  for (int i = 0; i < reps; ++i) at::linear(a, b);
  return 2.0 * 2048 * 768 * 3072 * reps / seconds_since(t0) / 1e9;
}

// FLOPs of one fast-path row: the blocks from `start` on (matmuls + attention) and the
// last-position unembedding.
double row_flops(const model::ModelConfig& c, int64_t seq, int64_t start) {
  const double d = c.d_model, m = c.d_mlp, p = static_cast<double>(seq);
  const double block = p * 2 * (4 * d * d + 2 * d * m) + 2 * 2 * p * p * d;
  return (c.n_layers - start) * block + 2 * d * c.d_vocab;
}

void run_sweep(const model::Model& m, const char* name, analyses::SweepRequest r, int64_t plain_sample, double peak) {
  analyses::CacheStore caches;
  const auto axes = analyses::grid_axes(r, m.config());
  const int64_t n = analyses::grid_cells(axes);
  analyses::baselines(m, r, caches);  // caches computed once per prompt, outside the timing
  auto t0 = Clock::now();
  const auto fast = analyses::run_cells(m, r, 0, n, caches);
  const double t_fast = seconds_since(t0);
  const int64_t sample = std::min(n, plain_sample);
  t0 = Clock::now();
  const auto plain = analyses::run_cells_plain(m, r, 0, sample, caches);
  const double t_plain_each = seconds_since(t0) / static_cast<double>(sample);
  double max_diff = 0.0;
  for (int64_t i = 0; i < sample; ++i) max_diff = std::max(max_diff, std::abs(double(fast[i]) - plain[i]));
  double flops = 0.0;
  for (int64_t l : axes[0].values) flops += row_flops(m.config(), 16, l) * (n / axes[0].size());
  std::printf("%-12s %-5s %5ld cells  fast %7.2f s = %7.1f runs/s | plain %.3f s/run (%ld sampled) = %6.1f runs/s"
              " | speed-up %5.1fx | %5.1f GFLOP/s = %4.0f%% of GEMM peak | max |fast-plain| %.2g\n",
              name, c10::toString(m.dtype()), static_cast<long>(n), t_fast, n / t_fast, t_plain_each,
              static_cast<long>(sample), 1.0 / t_plain_each, t_plain_each * n / t_fast, flops / t_fast / 1e9,
              100.0 * flops / t_fast / 1e9 / peak, max_diff);
  std::fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) {
  std::string dtypes = "both";
  int64_t plain_sample = 24;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--dtype")) dtypes = argv[i + 1];
    else if (!std::strcmp(argv[i], "--plain-sample")) plain_sample = std::stoll(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--threads")) at::set_num_threads(std::stoi(argv[i + 1]));
  }
  std::printf("threads %d\n", at::get_num_threads());
  for (auto dtype : {at::kFloat, at::kBFloat16}) {
    if ((dtype == at::kFloat && dtypes == "bf16") || (dtype == at::kBFloat16 && dtypes == "fp32")) continue;
    const double peak = gemm_peak_gflops(dtype);
    std::printf("GEMM peak %s: %.1f GFLOP/s (2048x768 @ 768x3072)\n", c10::toString(dtype), peak);
    auto m = random_gpt2_small(dtype);
    analyses::SweepRequest r;
    at::Generator gen = at::detail::createCPUGenerator(7);
    at::Tensor toks = at::randint(50257, {16}, gen, at::kLong);
    r.clean_tokens.assign(toks.data_ptr<int64_t>(), toks.data_ptr<int64_t>() + 16);
    r.corrupted_tokens = r.clean_tokens;
    r.corrupted_tokens[3] = 1000;
    r.corrupted_tokens[9] = 2000;
    r.answers = {{11, 12}};
    r.point = model::HookPoint::AttnZ;
    run_sweep(*m, "attn.hook_z", r, plain_sample, peak);
    r.point = model::HookPoint::ResidPre;
    run_sweep(*m, "resid_pre", r, plain_sample, peak);
  }
  return 0;
}
