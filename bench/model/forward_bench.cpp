// ms per forward and tokens/s of the runtime on random GPT-2-small-shaped and Llama-shaped
// models, beside the plain LibTorch GEMM rate measured in the same run: the ratio of the
// forward's matmul GFLOP/s to the GEMM's is the figure of merit. Also the cost of a Hooks
// object with only inactive sites (should be nil). Not a test: nothing is asserted.
//
// usage: bench_model_forward [threads=1] [iterations=5]
#include <chrono>
#include <cstdio>
#include <cstdlib>

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <ATen/core/grad_mode.h>

#include "bench/bench_timing.h"
#include "model/model.h"

using namespace csweep::model;

using csweep::bench::best_ms;

namespace {

at::Tensor mat(int64_t out, int64_t in, at::ScalarType dt) {
  return (at::randn({out, in}) * 0.02).to(dt);
}

std::shared_ptr<Model> random_model(const ModelConfig& c, at::ScalarType dt) {
  Weights w;
  w.W_E = mat(c.d_vocab, c.d_model, dt);
  if (c.learned_pos_embed) w.W_pos = mat(c.n_ctx, c.d_model, dt);
  auto vec = [&](int64_t n, double v) { return at::full({n}, v).to(dt); };
  for (int64_t l = 0; l < c.n_layers; ++l) {
    LayerWeights lw;
    lw.ln1_w = vec(c.d_model, 1);
    lw.ln2_w = vec(c.d_model, 1);
    if (c.norm == NormKind::LayerNorm) lw.ln1_b = vec(c.d_model, 0), lw.ln2_b = vec(c.d_model, 0);
    lw.W_Q = mat(c.d_q(), c.d_model, dt);
    lw.W_K = mat(c.d_kv(), c.d_model, dt);
    lw.W_V = mat(c.d_kv(), c.d_model, dt);
    lw.W_O = mat(c.d_model, c.d_q(), dt);
    lw.W_in = mat(c.d_mlp, c.d_model, dt);
    lw.W_out = mat(c.d_model, c.d_mlp, dt);
    if (c.gated_mlp) lw.W_gate = mat(c.d_mlp, c.d_model, dt);
    if (c.qkv_bias) lw.b_Q = vec(c.d_q(), 0), lw.b_K = vec(c.d_kv(), 0), lw.b_V = vec(c.d_kv(), 0);
    if (c.attn_out_bias) lw.b_O = vec(c.d_model, 0);
    if (c.mlp_bias) lw.b_in = vec(c.d_mlp, 0), lw.b_out = vec(c.d_model, 0);
    w.layers.push_back(lw);
  }
  w.ln_final_w = vec(c.d_model, 1);
  if (c.norm == NormKind::LayerNorm) w.ln_final_b = vec(c.d_model, 0);
  w.W_U = c.tie_word_embeddings ? w.W_E : mat(c.d_vocab, c.d_model, dt);
  return std::make_shared<Model>(c, w, dt, at::kCPU);
}

ModelConfig gpt2_small() {
  ModelConfig c;
  c.arch = Arch::Gpt2;
  c.n_layers = 12, c.d_model = 768, c.n_heads = 12, c.n_kv_heads = 12, c.d_head = 64,
  c.d_mlp = 3072;
  c.d_vocab = 50257, c.n_ctx = 1024;
  c.norm = NormKind::LayerNorm, c.activation = Activation::GeluTanh, c.learned_pos_embed = true;
  c.tie_word_embeddings = true, c.qkv_bias = c.attn_out_bias = c.mlp_bias = true;
  c.attn_scale = 0.125;
  return c;
}

// A Llama-shaped model of comparable size: GQA 12/4 heads, SwiGLU, RMSNorm, rotary.
ModelConfig llama_shaped() {
  ModelConfig c;
  c.arch = Arch::Llama;
  c.n_layers = 12, c.d_model = 768, c.n_heads = 12, c.n_kv_heads = 4, c.d_head = 64, c.d_mlp = 2048;
  c.d_vocab = 32000, c.n_ctx = 2048;
  c.norm = NormKind::RmsNorm, c.norm_eps = 1e-6, c.activation = Activation::Silu,
  c.gated_mlp = true;
  c.rotary_dim = 64, c.rope_theta = 10000;
  c.attn_scale = 0.125;
  return c;
}

// Matmul FLOPs of one forward (projections, attention products, unembedding of `unembed_rows`).
double forward_flops(const ModelConfig& c, int64_t b, int64_t p, int64_t unembed_rows) {
  double t = double(b * p);
  double per_token = 2.0 * c.d_model * (c.d_q() + 2 * c.d_kv()) + 2.0 * c.d_q() * c.d_model +
                     2.0 * c.d_model * c.d_mlp * (c.gated_mlp ? 3 : 2);
  double attn = 2.0 * 2.0 * double(b) * c.n_heads * p * p * c.d_head;
  return c.n_layers * (per_token * t + attn) + 2.0 * c.d_model * c.d_vocab * double(unembed_rows);
}

double gemm_gflops(at::ScalarType dt, int64_t rows, int iters) {
  at::Tensor x = at::randn({rows, 768}).to(dt), w = at::randn({3072, 768}).to(dt);
  double ms = best_ms(iters, [&] { at::linear(x, w); });
  return 2.0 * rows * 768 * 3072 / (ms * 1e6);
}

}  // namespace

int main(int argc, char** argv) {
  int threads = argc > 1 ? std::atoi(argv[1]) : 1;
  int iters = argc > 2 ? std::atoi(argv[2]) : 5;
  at::set_num_threads(threads);
  at::manual_seed(0);
  at::NoGradGuard no_grad;
  std::printf("threads %d, best of %d; seq 16; Logits::Last (sweeps) and Logits::All\n", threads,
              iters);
  std::printf("%-12s %-9s %5s %-5s %10s %10s %9s %11s %8s\n", "model", "dtype", "batch", "logit",
              "ms/fwd", "tokens/s", "GFLOP/s", "GEMM GF/s", "ratio");
  for (auto dt : {at::kFloat, at::kBFloat16}) {
    for (auto [name, cfg] :
         {std::pair{"gpt2-small", gpt2_small()}, std::pair{"llama-shaped", llama_shaped()}}) {
      auto model = random_model(cfg, dt);
      for (int64_t b : {1, 32}) {
        const int64_t p = 16;
        at::Tensor tokens = at::randint(0, cfg.d_vocab, {b, p}, at::kLong);
        double gemm = gemm_gflops(dt, b * p, iters);  // the same-shaped linear as the MLP, same run
        for (auto logits : {ForwardOptions::Logits::Last, ForwardOptions::Logits::All}) {
          ForwardOptions o;
          o.logits = logits;
          double ms = best_ms(iters, [&] { model->forward(tokens, nullptr, o); });
          bool last = logits == ForwardOptions::Logits::Last;
          double gf = forward_flops(cfg, b, p, last ? b : b * p) / (ms * 1e6);
          std::printf("%-12s %-9s %5lld %-5s %10.1f %10.0f %9.1f %11.1f %8.2f\n", name,
                      c10::toString(dt), (long long)b, last ? "last" : "all", ms,
                      double(b * p) / ms * 1e3, gf, gemm, gf / gemm);
        }
        if (b == 1) {  // inactive hooks must cost nothing: an armed Hooks with one unrelated site
          ForwardOptions o;
          o.logits = ForwardOptions::Logits::Last;
          Hooks hooks;
          hooks.add({HookPoint::AttnZ, cfg.n_layers + 5}, [](at::Tensor&, const HookSite&) {});
          double plain = best_ms(iters * 2, [&] { model->forward(tokens, nullptr, o); });
          double hooked = best_ms(iters * 2, [&] { model->forward(tokens, &hooks, o); });
          std::printf(
              "%-12s %-9s %5lld  inactive-hooks overhead: %.1f ms vs %.1f ms plain (%+.1f%%)\n",
              name, c10::toString(dt), (long long)b, hooked, plain,
              100.0 * (hooked - plain) / plain);
        }
      }
    }
  }
  return 0;
}
