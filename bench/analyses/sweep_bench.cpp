// The product's reason to exist, measured: the full layer x position x head sweep of
// attn.hook_z (12 x 16 x 12 = 2304 patched runs) and the resid_pre layer x position sweep on a
// GPT-2-small-shaped random model with a 16-token prompt, fast path vs the plain
// one-full-forward-per-patch loop in the same binary, fp32 and bf16, and the fraction of the
// machine's measured GEMM peak the fast path reaches.
//
//   bench_analyses_sweep [--dtype fp32|bf16|both] [--sweep hook_z|resid_pre|both] [--plain-sample
//   N]
//                        [--threads N] [--model-dir DIR] [--max-batch ROWS] [--device cpu|cuda:N]
//                        [--shape gpt2-small|llama-7b|tiny] [--seq P] [--attention fused|explicit]
// gpt2-small: the random checkpoint is written to DIR (default $TMPDIR/csweep-bench-gpt2-small)
// once and loaded like a user's. llama-7b (Llama-2-7B's shape: 32 x 4096, 32 heads, SwiGLU 11008,
// vocab 32000, 6.7 B parameters) and tiny are random weights drawn directly on the device (a 13 GB
// bf16 checkpoint would cost more to write and read than the sweep).
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Parallel.h>

#include <ATen/detail/CUDAHooksInterface.h>

#include "common/allocator.h"
#include "model/safetensors_writer.h"
#include "model/tensor_io.h"
#include "tests/analyses/request_grid.h"

using namespace csweep;
using Clock = std::chrono::steady_clock;

namespace {

c10::Device g_device = at::kCPU;

// GPU kernels are asynchronous: a timing ends when the device is done.
void sync() {
  if (g_device.is_cuda()) at::detail::getCUDAHooks().deviceSynchronize(g_device.index());
}

double seconds_since(Clock::time_point t0) {
  sync();
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

// A random Llama-shaped model built in memory on the device (RMSNorm, SwiGLU, rotary).
std::shared_ptr<model::Model> random_llama(int64_t L, int64_t d, int64_t h, int64_t hkv, int64_t m,
                                           int64_t V, c10::ScalarType dtype) {
  model::ModelConfig c;
  c.arch = model::Arch::Llama;
  c.hf_architecture = "LlamaForCausalLM";
  c.n_layers = L;
  c.d_model = d;
  c.n_heads = h;
  c.n_kv_heads = hkv;
  c.d_head = d / h;
  c.d_mlp = m;
  c.d_vocab = V;
  c.n_ctx = 4096;
  c.norm = model::NormKind::RmsNorm;
  c.norm_eps = 1e-5;
  c.activation = model::Activation::Silu;
  c.gated_mlp = true;
  c.rotary_dim = c.d_head;
  c.attn_scale = 1.0 / std::sqrt(double(c.d_head));
  at::manual_seed(1234);
  const auto opts = at::TensorOptions().dtype(dtype).device(g_device);
  auto normal = [&](at::IntArrayRef shape, double std) { return at::randn(shape, opts).mul_(std); };
  model::Weights w;
  w.W_E = normal({V, d}, 0.02);
  for (int64_t l = 0; l < L; ++l) {
    model::LayerWeights lw;
    lw.ln1_w = at::ones({d}, opts);
    lw.ln2_w = at::ones({d}, opts);
    lw.W_Q = normal({c.d_q(), d}, 0.02);
    lw.W_K = normal({c.d_kv(), d}, 0.02);
    lw.W_V = normal({c.d_kv(), d}, 0.02);
    lw.W_O = normal({d, c.d_q()}, 0.02);
    lw.W_in = normal({m, d}, 0.02);
    lw.W_gate = normal({m, d}, 0.02);
    lw.W_out = normal({d, m}, 0.02);
    w.layers.push_back(lw);
  }
  w.ln_final_w = at::ones({d}, opts);
  w.W_U = normal({V, d}, 0.02);
  return std::make_shared<model::Model>(c, std::move(w), dtype, g_device);
}

// A GPT-2-small-shaped Hugging Face checkpoint with random weights (GPT-2 init scale),
// written once to `dir` (config.json + model.safetensors) and loaded like any user's model;
// a folder that already holds a checkpoint is used as it is.
std::filesystem::path write_random_gpt2_small(const std::filesystem::path& dir) {
  const int64_t L = 12, d = 768, V = 50257, n_ctx = 1024, m = 3072;
  if (std::filesystem::exists(dir / "config.json"))
    return dir;  // a checkpoint already there: use it as it is
  std::filesystem::create_directories(dir);
  at::Generator gen = at::detail::createCPUGenerator(1234);
  std::vector<model::TensorBytes> tensors;
  auto add = [&](const std::string& name, at::Tensor t) {
    t = t.contiguous();
    model::TensorBytes tb;
    tb.name = name;
    tb.shape = t.sizes().vec();
    const auto* p = reinterpret_cast<const std::byte*>(t.data_ptr<float>());
    tb.bytes.assign(p, p + t.numel() * 4);
    tensors.push_back(std::move(tb));
  };
  auto normal = [&](at::IntArrayRef shape, double std) {
    return at::randn(shape, gen, at::kFloat) * std;
  };
  add("wte.weight", normal({V, d}, 0.02));
  add("wpe.weight", normal({n_ctx, d}, 0.01));
  for (int64_t l = 0; l < L; ++l) {
    const std::string h = "h." + std::to_string(l) + ".";
    add(h + "ln_1.weight", at::ones({d}));
    add(h + "ln_1.bias", normal({d}, 0.02));
    add(h + "attn.c_attn.weight", normal({d, 3 * d}, 0.02));  // Conv1D: [in, out]
    add(h + "attn.c_attn.bias", normal({3 * d}, 0.02));
    add(h + "attn.c_proj.weight", normal({d, d}, 0.02));
    add(h + "attn.c_proj.bias", normal({d}, 0.02));
    add(h + "ln_2.weight", at::ones({d}));
    add(h + "ln_2.bias", normal({d}, 0.02));
    add(h + "mlp.c_fc.weight", normal({d, m}, 0.02));
    add(h + "mlp.c_fc.bias", normal({m}, 0.02));
    add(h + "mlp.c_proj.weight", normal({m, d}, 0.02));
    add(h + "mlp.c_proj.bias", normal({d}, 0.02));
  }
  add("ln_f.weight", at::ones({d}));
  add("ln_f.bias", normal({d}, 0.02));
  model::write_safetensors(dir / "model.safetensors", std::move(tensors));
  std::ofstream(dir / "config.json")
      << R"({"architectures": ["GPT2LMHeadModel"], "model_type": "gpt2",
  "activation_function": "gelu_new", "layer_norm_epsilon": 1e-05, "n_ctx": 1024, "n_positions": 1024,
  "n_embd": 768, "n_head": 12, "n_layer": 12, "n_inner": null, "vocab_size": 50257,
  "scale_attn_weights": true, "tie_word_embeddings": true, "torch_dtype": "float32"})";
  return dir;
}

// Measured GEMM throughput for the shapes a batched forward runs ([B*P, d] x [d, 4d]): the
// best of 20 (the machine is shared; the peak is what the hardware gives when undisturbed).
// On a GPU the shapes are the 7B model's MLP ([8192, 4096] x [4096, 11008]).
double gemm_peak_gflops(c10::ScalarType dtype, int64_t rows, int64_t k, int64_t n) {
  const auto opts = at::TensorOptions().dtype(dtype).device(g_device);
  at::Tensor a = at::randn({rows, k}, opts), b = at::randn({n, k}, opts);
  at::Tensor out = at::linear(a, b);  // warm-up
  sync();
  double best = 0.0;
  for (int i = 0; i < 20; ++i) {
    auto t0 = Clock::now();
    at::linear_out(out, a, b);
    best = std::max(best, 2.0 * double(rows) * double(k) * double(n) / seconds_since(t0) / 1e9);
  }
  return best;
}

// The FLOPs the fast path does for one patched run (matmuls and attention scores/mixing; the
// exact floor of a resumed forward): blocks from `start` on at positions from `pos` on; a patch
// after attention (hook_z) runs its own block only from W_O on, at the patched position; the
// last block computes keys/values for the recomputed positions and the rest for the last one;
// then ln_final and the unembedding columns the metric reads.
double row_flops(const model::ModelConfig& c, int64_t seq, int64_t start, int64_t pos,
                 bool after_attention, int64_t columns) {
  const double d = c.d_model, dq = c.d_q(), dkv = c.d_kv(), p = static_cast<double>(seq),
               m = static_cast<double>(seq - pos);
  const double mlp = (c.gated_mlp ? 3 : 2) * d * c.d_mlp;
  auto rest_of_block = [&](double rows) { return rows * 2 * (d * dq + mlp); };  // W_O + MLP
  auto attention = [&](double queries) {
    return 2 * 2 * queries * p * dq + queries * 2 * d * dq;
  };  // scores, mixing, W_Q
  auto keys_values = [&](double rows) { return rows * 2 * 2 * d * dkv; };
  const int64_t last = c.n_layers - 1;
  double f = 0;
  int64_t l = start;
  if (after_attention) {
    f += rest_of_block(1);
    ++l;
  }
  for (; l < last; ++l) f += keys_values(m) + attention(m) + rest_of_block(m);
  if (l == last) f += keys_values(m) + attention(1) + rest_of_block(1);
  return f + 2 * d * static_cast<double>(columns);
}

void run_sweep(const model::Model& m, const char* name, analyses::SweepRequest r,
               int64_t plain_sample, double peak) {
  const int64_t seq = static_cast<int64_t>(r.clean_tokens.size());
  analyses::CacheStore caches;
  const auto axes = analyses::grid_axes(r, m.config());
  const int64_t n = analyses::grid_cells(axes);
  analyses::baselines(m, r, caches);  // caches computed once per prompt, outside the timing
  auto t0 = Clock::now();
  // The plain loop is sampled in two halves around the fast sweep: the machine is shared.
  const int64_t sample = std::min(n, plain_sample);
  auto t_plain = Clock::now();
  auto plain = analyses::run_cells_plain(m, r, 0, sample / 2, caches);
  double plain_seconds = seconds_since(t_plain);
  t0 = Clock::now();
  const auto fast = analyses::run_cells(m, r, 0, n, caches);
  const double t_fast = seconds_since(t0);
  t_plain = Clock::now();
  const auto rest = analyses::run_cells_plain(m, r, sample / 2, sample, caches);
  plain_seconds += seconds_since(t_plain);
  plain.insert(plain.end(), rest.begin(), rest.end());
  const double t_plain_each = plain_seconds / static_cast<double>(sample);
  double max_diff = 0.0;
  for (int64_t i = 0; i < sample; ++i)
    max_diff = std::max(max_diff, std::abs(double(fast[i]) - plain[i]));
  double flops = 0.0;
  const int64_t per_layer_pos = n / (axes[0].size() * axes[1].size());
  const bool after_attention = r.point == model::HookPoint::AttnZ;
  const int64_t columns = 2;  // logit_diff of one answer/wrong pair
  for (int64_t l : axes[0].values) {
    for (int64_t p : axes[1].values)
      flops += row_flops(m.config(), seq, l, p, after_attention, columns) * per_layer_pos;
  }
  std::printf(
      "%-12s %-5s %5ld cells  fast %7.2f s = %7.1f runs/s | plain %.3f s/run (%ld sampled) = %6.1f "
      "runs/s"
      " | speed-up %5.1fx | %5.1f GFLOP/s = %4.0f%% of GEMM peak | max |fast-plain| %.2g\n",
      name, c10::toString(m.dtype()), static_cast<long>(n), t_fast, n / t_fast, t_plain_each,
      static_cast<long>(sample), 1.0 / t_plain_each, t_plain_each * n / t_fast,
      flops / t_fast / 1e9, 100.0 * flops / t_fast / 1e9 / peak, max_diff);
  std::fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) {
  keep_freed_memory_for_reuse();  // as csweep does
  std::string dtypes = "both";
  std::string sweeps = "both";
  int64_t max_batch = -1;
  std::filesystem::path dir = std::filesystem::temp_directory_path() / "csweep-bench-gpt2-small";
  int64_t plain_sample = 24;
  std::string shape = "gpt2-small";
  int64_t seq = 16;
  model::Attention attention = model::Attention::Fused;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--dtype"))
      dtypes = argv[i + 1];
    else if (!std::strcmp(argv[i], "--plain-sample"))
      plain_sample = std::stoll(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--threads"))
      at::set_num_threads(std::stoi(argv[i + 1]));
    else if (!std::strcmp(argv[i], "--model-dir"))
      dir = argv[i + 1];
    else if (!std::strcmp(argv[i], "--sweep"))
      sweeps = argv[i + 1];
    else if (!std::strcmp(argv[i], "--max-batch"))
      max_batch = std::stoll(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--device"))
      g_device = c10::Device(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--shape"))
      shape = argv[i + 1];
    else if (!std::strcmp(argv[i], "--seq"))
      seq = std::stoll(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--attention"))
      attention = std::strcmp(argv[i + 1], "explicit") ? model::Attention::Fused
                                                       : model::Attention::Explicit;
  }
  if (g_device.is_cuda())
    model::check_device(g_device);  // loads LibTorch's CUDA half before anything touches CUDA
  std::printf("threads %d, device %s, shape %s, %ld-token prompt, %s attention\n",
              at::get_num_threads(), g_device.str().c_str(), shape.c_str(), static_cast<long>(seq),
              attention == model::Attention::Fused ? "fused" : "explicit");
  for (auto dtype : {at::kFloat, at::kBFloat16}) {
    if ((dtype == at::kFloat && dtypes == "bf16") || (dtype == at::kBFloat16 && dtypes == "fp32"))
      continue;
    const bool big = g_device.is_cuda();
    const int64_t gr = big ? 8192 : 2048, gk = big ? 4096 : 768, gn = big ? 11008 : 3072;
    const double peak = gemm_peak_gflops(dtype, gr, gk, gn);
    std::printf("GEMM peak %s: %.1f GFLOP/s (%ldx%ld @ %ldx%ld)\n", c10::toString(dtype), peak,
                static_cast<long>(gr), static_cast<long>(gk), static_cast<long>(gk),
                static_cast<long>(gn));
    std::shared_ptr<model::Model> m;
    if (shape == "llama-7b") {
      m = random_llama(32, 4096, 32, 32, 11008, 32000, dtype);
    } else if (shape == "tiny") {
      m = random_llama(2, 64, 4, 2, 172, 500, dtype);
    } else {
      model::LoadOptions load;
      load.dtype = dtype;
      load.device = g_device;
      m = model::Model::load(write_random_gpt2_small(dir), load);
    }
    m->set_attention(attention);
    analyses::SweepRequest r;
    at::Generator gen = at::detail::createCPUGenerator(7);
    at::Tensor toks =
        at::randint(std::min<int64_t>(m->config().d_vocab, 50257), {seq}, gen, at::kLong);
    r.clean_tokens.assign(toks.data_ptr<int64_t>(), toks.data_ptr<int64_t>() + seq);
    r.corrupted_tokens = r.clean_tokens;
    r.corrupted_tokens[3 % seq] = 1000 % m->config().d_vocab;
    r.corrupted_tokens[9 % seq] = 2000 % m->config().d_vocab;
    r.answers = {{11, 12}};
    if (max_batch > 0) r.batch.max_batch = max_batch;
    r.point = model::HookPoint::AttnZ;
    if (sweeps != "resid_pre") run_sweep(*m, "attn.hook_z", r, plain_sample, peak);
    r.point = model::HookPoint::ResidPre;
    if (sweeps != "hook_z") run_sweep(*m, "resid_pre", r, plain_sample, peak);
  }
  return 0;
}
