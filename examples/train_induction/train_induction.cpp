// Trains the bundled model: a 2-layer, attention-only GPT-2 (MLP weights held at zero, still
// the GPT-2 layout) on sequences where a segment repeats at a varying offset, until it copies
// through a previous-token head (layer 0) and an induction head (layer 1). Seeded and
// single-threaded, so the same command writes the same weights. Writes the Hugging Face
// folder (config.json, model.safetensors, vocab.json, merges.txt) and the model card.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <ATen/core/grad_mode.h>
#include <CLI/CLI.hpp>
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "induction_data.h"
#include "model/model.h"
#include "model/safetensors_writer.h"

namespace fs = std::filesystem;
using csweep::examples::InductionBatch;
using csweep::examples::InductionDataOptions;
using csweep::examples::make_induction_batch;
using namespace csweep::model;

namespace {

ModelConfig induction_config(int64_t n_heads) {
  ModelConfig c;
  c.arch = Arch::Gpt2;
  c.hf_architecture = "GPT2LMHeadModel";
  c.n_layers = 2;
  c.d_model = 64;
  c.n_heads = n_heads;
  c.n_kv_heads = n_heads;
  c.d_head = c.d_model / n_heads;
  c.d_mlp = 256;
  c.d_vocab = 256;
  c.n_ctx = 64;
  c.norm = NormKind::LayerNorm;
  c.norm_eps = 1e-5;
  c.activation = Activation::GeluTanh;
  c.tie_word_embeddings = true;
  c.qkv_bias = c.attn_out_bias = c.mlp_bias = true;
  c.learned_pos_embed = true;
  c.attn_scale = 1.0 / std::sqrt(double(c.d_head));
  return c;
}

Weights init_weights(const ModelConfig& c, at::Generator& gen) {
  auto normal = [&](std::vector<int64_t> shape, double std) {
    return at::normal(0.0, std, shape, gen);
  };
  auto zeros = [](std::vector<int64_t> shape) { return at::zeros(shape); };
  auto ones = [](std::vector<int64_t> shape) { return at::ones(shape); };
  Weights w;
  w.W_E = normal({c.d_vocab, c.d_model}, 0.1);
  w.W_pos = normal({c.n_ctx, c.d_model}, 0.1);
  for (int64_t l = 0; l < c.n_layers; ++l) {
    LayerWeights L;
    L.ln1_w = ones({c.d_model});
    L.ln1_b = zeros({c.d_model});
    L.W_Q = normal({c.d_q(), c.d_model}, 0.1);
    L.W_K = normal({c.d_kv(), c.d_model}, 0.1);
    L.W_V = normal({c.d_kv(), c.d_model}, 0.1);
    L.b_Q = zeros({c.d_q()});
    L.b_K = zeros({c.d_kv()});
    L.b_V = zeros({c.d_kv()});
    L.W_O = normal({c.d_model, c.d_q()}, 0.1 / std::sqrt(2.0 * c.n_layers));
    L.b_O = zeros({c.d_model});
    L.ln2_w = ones({c.d_model});
    L.ln2_b = zeros({c.d_model});
    // Attention-only: the MLP stays in the GPT-2 layout but is held at zero (never trained).
    L.W_in = zeros({c.d_mlp, c.d_model});
    L.b_in = zeros({c.d_mlp});
    L.W_out = zeros({c.d_model, c.d_mlp});
    L.b_out = zeros({c.d_model});
    w.layers.push_back(L);
  }
  w.ln_final_w = ones({c.d_model});
  w.ln_final_b = zeros({c.d_model});
  w.W_U = w.W_E;  // tied
  return w;
}

bool is_mlp(const std::string& name) {
  return name.find("W_in") != std::string::npos || name.find("b_in") != std::string::npos ||
         name.find("W_out") != std::string::npos || name.find("b_out") != std::string::npos;
}

at::Tensor to_tensor(const InductionBatch& b) {
  return at::tensor(b.tokens, at::kLong).view({b.batch, b.seq});
}

// Per-position next-token loss [b, seq-1].
at::Tensor token_losses(const at::Tensor& logits, const at::Tensor& tokens) {
  at::Tensor logp = at::log_softmax(logits.slice(1, 0, -1), -1);
  return -logp.gather(-1, tokens.slice(1, 1).unsqueeze(-1)).squeeze(-1);
}

// Per-head parameter norms: [layer, head], over the head's rows of W_Q, W_K, W_V (and their
// biases) and its columns of W_O. The group-L1 penalty on these makes heads compete: a head
// not worth its norm shrinks towards zero as a whole — its attention pattern too, so a
// pruned head does not keep a learned induction pattern it no longer uses — and the circuit
// settles into one induction head instead of several redundant ones.
at::Tensor head_norms(const Weights& w, const ModelConfig& c) {
  std::vector<at::Tensor> rows;
  for (int64_t l = 0; l < c.n_layers; ++l) {
    const LayerWeights& L = w.layers[size_t(l)];
    auto per_head_rows = [&](const at::Tensor& W) { return W.view({c.n_heads, -1}).pow(2).sum(1); };
    at::Tensor sq = per_head_rows(L.W_Q) + per_head_rows(L.W_K) + per_head_rows(L.W_V) +
                    per_head_rows(L.b_Q) + per_head_rows(L.b_K) + per_head_rows(L.b_V) +
                    L.W_O.view({c.d_model, c.n_heads, c.d_head}).pow(2).sum(at::IntArrayRef{0, 2});
    rows.push_back((sq + 1e-12).sqrt());  // eps: a finite gradient at 0
  }
  return at::stack(rows);
}

struct SplitLoss {
  double repeated = 0, other = 0;
};

SplitLoss split_loss(const Model& model, const InductionBatch& b) {
  at::NoGradGuard no_grad;
  at::Tensor tokens = to_tensor(b);
  at::Tensor losses = token_losses(model.forward(tokens), tokens);  // predicts token t+1
  at::Tensor rep = at::tensor(std::vector<int64_t>(b.repeated.begin(), b.repeated.end()), at::kLong)
                       .view({b.batch, b.seq})
                       .slice(1, 1)
                       .to(at::kBool);
  SplitLoss s;
  s.repeated = losses.masked_select(rep).mean().item<double>();
  s.other = losses.masked_select(rep.logical_not()).mean().item<double>();
  return s;
}

// Attention patterns of every layer: [layer][b, h, q, k].
std::vector<at::Tensor> patterns(const Model& model, const at::Tensor& tokens) {
  at::NoGradGuard no_grad;
  Hooks hooks;
  for (int64_t l = 0; l < model.config().n_layers; ++l) hooks.cache({HookPoint::AttnPattern, l});
  model.forward(tokens, &hooks);
  std::vector<at::Tensor> out;
  for (int64_t l = 0; l < model.config().n_layers; ++l)
    out.push_back(hooks.cache().at({HookPoint::AttnPattern, l}));
  return out;
}

struct HeadScores {
  at::Tensor previous_token;  // [layer, head]
  at::Tensor induction;       // [layer, head]
};

// TransformerLens's definitions on [x_1..x_N, x_1..x_N] random tokens: previous-token score =
// mean attention from i to i-1; induction score = mean attention from the second copy's
// position i to i-N+1 (the token after the current token's earlier occurrence).
HeadScores head_scores(const Model& model, std::mt19937_64& rng, int64_t batch, int64_t n) {
  std::uniform_int_distribution<int64_t> token(0, model.config().d_vocab - 1);
  std::vector<int64_t> ids(size_t(batch * 2 * n));
  for (int64_t r = 0; r < batch; ++r)
    for (int64_t i = 0; i < n; ++i)
      ids[size_t(r * 2 * n + i)] = ids[size_t(r * 2 * n + n + i)] = token(rng);
  at::Tensor tokens = at::tensor(ids, at::kLong).view({batch, 2 * n});
  std::vector<at::Tensor> pats = patterns(model, tokens);
  HeadScores s;
  std::vector<at::Tensor> prev, ind;
  for (const at::Tensor& p : pats) {
    prev.push_back(p.diagonal(-1, 2, 3).mean(at::IntArrayRef{0, 2}));
    ind.push_back(p.diagonal(-(n - 1), 2, 3).slice(2, 1).mean(at::IntArrayRef{0, 2}));
  }
  s.previous_token = at::stack(prev);
  s.induction = at::stack(ind);
  return s;
}

std::vector<std::byte> bytes_of(const at::Tensor& t) {
  at::Tensor c = t.detach().to(at::kFloat).contiguous();
  std::vector<std::byte> out(size_t(c.numel()) * sizeof(float));
  std::memcpy(out.data(), c.data_ptr<float>(), out.size());
  return out;
}

// Canonical [out, in] weights back into GPT-2's Conv1D [in, out] layout and hub names.
void write_hf_gpt2(const fs::path& dir, const ModelConfig& c, const Weights& w) {
  std::vector<TensorBytes> t;
  auto put = [&](const std::string& name, const at::Tensor& x) {
    at::Tensor d = x.detach().contiguous();
    t.push_back(
        {name, DType::F32, std::vector<int64_t>(d.sizes().begin(), d.sizes().end()), bytes_of(d)});
  };
  put("wte.weight", w.W_E);
  put("wpe.weight", w.W_pos);
  for (int64_t l = 0; l < c.n_layers; ++l) {
    const LayerWeights& L = w.layers[size_t(l)];
    std::string p = "h." + std::to_string(l) + ".";
    put(p + "ln_1.weight", L.ln1_w);
    put(p + "ln_1.bias", L.ln1_b);
    put(p + "attn.c_attn.weight", at::cat({L.W_Q, L.W_K, L.W_V}, 0).t());
    put(p + "attn.c_attn.bias", at::cat({L.b_Q, L.b_K, L.b_V}, 0));
    put(p + "attn.c_proj.weight", L.W_O.t());
    put(p + "attn.c_proj.bias", L.b_O);
    put(p + "ln_2.weight", L.ln2_w);
    put(p + "ln_2.bias", L.ln2_b);
    put(p + "mlp.c_fc.weight", L.W_in.t());
    put(p + "mlp.c_fc.bias", L.b_in);
    put(p + "mlp.c_proj.weight", L.W_out.t());
    put(p + "mlp.c_proj.bias", L.b_out);
  }
  put("ln_f.weight", w.ln_final_w);
  put("ln_f.bias", w.ln_final_b);
  write_safetensors(dir / "model.safetensors", std::move(t), {{"format", "pt"}});

  nlohmann::ordered_json cfg = {{"activation_function", "gelu_new"},
                                {"architectures", {"GPT2LMHeadModel"}},
                                {"attn_pdrop", 0.0},
                                {"bos_token_id", 0},
                                {"embd_pdrop", 0.0},
                                {"eos_token_id", 0},
                                {"layer_norm_epsilon", c.norm_eps},
                                {"model_type", "gpt2"},
                                {"n_ctx", c.n_ctx},
                                {"n_embd", c.d_model},
                                {"n_head", c.n_heads},
                                {"n_inner", c.d_mlp},
                                {"n_layer", c.n_layers},
                                {"n_positions", c.n_ctx},
                                {"resid_pdrop", 0.0},
                                {"scale_attn_weights", true},
                                {"tie_word_embeddings", true},
                                {"torch_dtype", "float32"},
                                {"vocab_size", c.d_vocab}};
  std::ofstream(dir / "config.json") << cfg.dump(2) << "\n";
}

// A byte-level BPE tokenizer with no merges: token id b is byte b, spelled with GPT-2's
// bytes_to_unicode alphabet, so any text tokenizes and decodes losslessly.
void write_byte_tokenizer(const fs::path& dir) {
  std::vector<int> bs;
  for (int b = '!'; b <= '~'; ++b) bs.push_back(b);
  for (int b = 0xA1; b <= 0xAC; ++b) bs.push_back(b);
  for (int b = 0xAE; b <= 0xFF; ++b) bs.push_back(b);
  std::vector<int> cs = bs;
  int extra = 0;
  for (int b = 0; b < 256; ++b)
    if (std::find(bs.begin(), bs.end(), b) == bs.end()) {
      bs.push_back(b);
      cs.push_back(256 + extra++);
    }
  auto utf8 = [](int cp) {
    std::string s;
    if (cp < 0x80)
      s += char(cp);
    else if (cp < 0x800) {
      s += char(0xC0 | (cp >> 6));
      s += char(0x80 | (cp & 0x3F));
    } else {
      s += char(0xE0 | (cp >> 12));
      s += char(0x80 | ((cp >> 6) & 0x3F));
      s += char(0x80 | (cp & 0x3F));
    }
    return s;
  };
  nlohmann::ordered_json vocab = nlohmann::ordered_json::object();
  std::vector<std::string> by_id(256);
  for (size_t i = 0; i < bs.size(); ++i) by_id[size_t(bs[i])] = utf8(cs[i]);
  for (int b = 0; b < 256; ++b) vocab[by_id[size_t(b)]] = b;
  std::ofstream(dir / "vocab.json") << vocab.dump() << "\n";
  std::ofstream(dir / "merges.txt") << "#version: 0.2\n";
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Train the bundled induction model (deterministic, CPU)"};
  std::string out = "examples/models/induction-2l";
  uint64_t seed = 1;
  int64_t steps = 3000, batch = 32, threads = 1, n_heads = 4;
  double lr = 3e-3, weight_decay = 0.01;
  std::vector<double> head_l1;
  app.add_option("--out", out, "output folder (Hugging Face layout)");
  app.add_option("--seed", seed, "random seed");
  app.add_option("--steps", steps, "optimizer steps");
  app.add_option("--batch", batch, "sequences per step");
  app.add_option("--lr", lr, "peak learning rate (AdamW)");
  app.add_option("--threads", threads, "intra-op threads (1 = bit-reproducible)");
  app.add_option("--heads", n_heads,
                 "attention heads per layer (d_model 64 is split between them)");
  app.add_option("--head-l1", head_l1,
                 "group-L1 weight on the per-head output norms, one per layer (default 0)")
      ->expected(2);
  double l1_after_loss = 1.5;
  int64_t l1_ramp = 500;
  app.add_option("--l1-after-loss", l1_after_loss,
                 "switch the penalty on once the logged repeated-token loss is below this (after "
                 "the phase change)");
  app.add_option("--l1-ramp", l1_ramp, "steps over which the penalty ramps up to --head-l1");
  int64_t early_max_prefix = -1;
  app.add_option("--early-max-prefix", early_max_prefix,
                 "longest random prefix before the phase change (default: --max-prefix)");
  InductionDataOptions train_opts;
  app.add_option("--seq", train_opts.seq, "training sequence length (<= n_ctx = 64)");
  app.add_option("--min-segment", train_opts.min_segment, "shortest repeated segment");
  app.add_option("--max-segment", train_opts.max_segment, "longest repeated segment");
  app.add_option("--max-prefix", train_opts.max_prefix, "longest random prefix before the segment");
  app.add_option("--max-gap", train_opts.max_gap, "longest random gap between the two copies");
  CLI11_PARSE(app, argc, argv);
  if (train_opts.max_gap < 1) {
    std::fprintf(stderr, "--max-gap: must be >= 1 (held-out sequences use the odd gaps)\n");
    return 2;
  }
  train_opts.gap_parity = 0;
  at::set_num_threads(int(threads));
  if (head_l1.empty()) head_l1 = {0.0, 0.0};
  if (64 % n_heads != 0) {
    std::fprintf(stderr, "--heads: %lld does not divide d_model 64\n", (long long)n_heads);
    return 2;
  }

  ModelConfig cfg = induction_config(n_heads);
  at::Generator gen = at::detail::createCPUGenerator(seed);
  Model model(cfg, init_weights(cfg, gen), at::kFloat, at::kCPU);
  std::vector<std::pair<std::string, at::Tensor>> params;
  for (auto& [name, t] : model.mutable_weights().named())
    if (t->defined() && !is_mlp(name) && name != "W_U") {
      t->requires_grad_(true);
      params.emplace_back(name, *t);
    }
  std::vector<at::Tensor> m1, m2;
  for (auto& p : params) {
    m1.push_back(at::zeros_like(p.second));
    m2.push_back(at::zeros_like(p.second));
  }

  std::mt19937_64 data_rng(seed * 7919 + 1);
  const double beta1 = 0.9, beta2 = 0.98, eps = 1e-8;
  const int64_t warmup = 100;
  // The penalty waits for the induction phase change: during the plateau no head is useful
  // yet, and a penalty then prunes the layer before the circuit can form (measured).
  // Likewise the first copy stays near the start until then (the circuit forms far sooner
  // when the repeats are concentrated; measured), and ranges over the whole context after.
  int64_t l1_start = -1;
  InductionDataOptions early_opts = train_opts;
  if (early_max_prefix >= 0) early_opts.max_prefix = early_max_prefix;
  for (int64_t step = 1; step <= steps; ++step) {
    double l1_scale = l1_start < 0 ? 0.0 : std::min(1.0, double(step - l1_start) / double(l1_ramp));
    InductionBatch b =
        make_induction_batch(data_rng, batch, l1_start < 0 ? early_opts : train_opts);
    at::Tensor tokens = to_tensor(b);
    at::Tensor loss = token_losses(model.forward(tokens), tokens).mean();
    at::Tensor penalty =
        (head_norms(model.weights(), cfg) * at::tensor(head_l1, at::kFloat).view({cfg.n_layers, 1}))
            .sum() *
        l1_scale;
    (loss + penalty).backward();
    double lr_now = lr * std::min(1.0, double(step) / warmup) * 0.5 *
                    (1.0 + std::cos(M_PI * double(step) / double(steps + 1)));
    {
      at::NoGradGuard no_grad;
      for (size_t i = 0; i < params.size(); ++i) {
        at::Tensor& p = params[i].second;
        at::Tensor g = p.grad();
        m1[i].mul_(beta1).add_(g, 1 - beta1);
        m2[i].mul_(beta2).addcmul_(g, g, 1 - beta2);
        double c1 = 1 - std::pow(beta1, double(step)), c2 = 1 - std::pow(beta2, double(step));
        at::Tensor update = (m1[i] / c1) / ((m2[i] / c2).sqrt() + eps);
        bool decay = p.dim() == 2;  // no decay on norms and biases
        if (decay) p.mul_(1 - lr_now * weight_decay);
        p.add_(update, -lr_now);
        g.zero_();
      }
    }
    if (step % 250 == 0 || step == 1) {
      std::mt19937_64 eval_rng(12345);
      // On the data of the current phase: the trigger must see the circuit form on early data.
      SplitLoss s = split_loss(
          model, make_induction_batch(eval_rng, 256, l1_start < 0 ? early_opts : train_opts));
      HeadScores hs = head_scores(model, eval_rng, 32, 25);
      at::Tensor norms = head_norms(model.weights(), cfg).detach();
      std::printf("step %5lld  loss %.4f  repeated %.4f  other %.4f  penalty x%.2f%s\n",
                  (long long)step, loss.item<double>(), s.repeated, s.other, l1_scale,
                  l1_start < 0 ? "  (early data)" : "");
      if (l1_start < 0 && s.repeated < l1_after_loss) l1_start = step;
      for (int64_t l = 0; l < cfg.n_layers; ++l) {
        std::printf("   L%lld prev", (long long)l);
        for (int64_t h = 0; h < cfg.n_heads; ++h)
          std::printf(" %.2f", hs.previous_token[l][h].item<double>());
        std::printf("  ind");
        for (int64_t h = 0; h < cfg.n_heads; ++h)
          std::printf(" %.2f", hs.induction[l][h].item<double>());
        std::printf("  |W_O|");
        for (int64_t h = 0; h < cfg.n_heads; ++h) std::printf(" %.2f", norms[l][h].item<double>());
        std::printf("\n");
      }
      std::fflush(stdout);
    }
  }
  for (auto& p : params) p.second.requires_grad_(false);

  // In distribution: fresh sequences from the training distribution (even gaps). Held out:
  // the same shapes with odd gaps, which training never produced.
  std::mt19937_64 eval_rng(seed + 999);
  SplitLoss train_loss = split_loss(model, make_induction_batch(eval_rng, 512, train_opts));
  InductionDataOptions held_out = train_opts;
  held_out.gap_parity = 1;
  SplitLoss heldout_loss = split_loss(model, make_induction_batch(eval_rng, 512, held_out));
  HeadScores scores = head_scores(model, eval_rng, 128, 25);
  at::Tensor norms = head_norms(model.weights(), cfg).detach();

  fs::create_directories(out);
  write_hf_gpt2(out, cfg, model.weights());
  write_byte_tokenizer(out);
  nlohmann::ordered_json report = {{"seed", seed},
                                   {"steps", steps},
                                   {"batch", batch},
                                   {"lr", lr},
                                   {"heads", n_heads},
                                   {"head_l1", head_l1},
                                   {"l1_after_loss", l1_after_loss},
                                   {"l1_start_step", l1_start},
                                   {"l1_ramp", l1_ramp},
                                   {"early_max_prefix", early_opts.max_prefix},
                                   {"data",
                                    {{"seq", train_opts.seq},
                                     {"segment", {train_opts.min_segment, train_opts.max_segment}},
                                     {"max_prefix", train_opts.max_prefix},
                                     {"max_gap", train_opts.max_gap},
                                     {"train_gaps", "even"},
                                     {"heldout_gaps", "odd"}}},
                                   {"train_loss_repeated", train_loss.repeated},
                                   {"train_loss_other", train_loss.other},
                                   {"heldout_loss_repeated", heldout_loss.repeated},
                                   {"heldout_loss_other", heldout_loss.other},
                                   {"uniform_loss", std::log(double(cfg.d_vocab))},
                                   {"previous_token_score", std::vector<std::vector<double>>()},
                                   {"induction_score", std::vector<std::vector<double>>()},
                                   {"head_norm", std::vector<std::vector<double>>()}};
  for (int64_t l = 0; l < cfg.n_layers; ++l) {
    std::vector<double> p, i, n;
    for (int64_t h = 0; h < cfg.n_heads; ++h) {
      p.push_back(scores.previous_token[l][h].item<double>());
      i.push_back(scores.induction[l][h].item<double>());
      n.push_back(norms[l][h].item<double>());
    }
    report["previous_token_score"].push_back(p);
    report["induction_score"].push_back(i);
    report["head_norm"].push_back(n);
  }
  std::ofstream(fs::path(out) / "training_report.json") << report.dump(2) << "\n";
  std::printf("%s\n", report.dump(2).c_str());
  return 0;
}
