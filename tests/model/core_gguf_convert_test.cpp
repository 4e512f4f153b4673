// `csweep convert gguf` (model/gguf/gguf_convert.h) on a small hand-written Llama GGUF: tensor
// names, llama.cpp's Q/K row permutation undone exactly, dequantised and plain types, tied
// embeddings, config.json and tokenizer files that csweep's own loaders accept, the dtypes
// asked for, and one-line errors (naming file and tensor or key) for what is not supported.
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <random>
#include <string>

#include <gtest/gtest.h>

#include "common/error.h"
#include "model/config.h"
#include "model/gguf/ggml_types.h"
#include "model/gguf/gguf_convert.h"
#include "model/gguf/half.h"
#include "model/safetensors.h"
#include "model/tokenizer/byte_level.h"
#include "model/tokenizer/tokenizer.h"
#include "tests/error_of.h"
#include "tests/model/gguf_test_writer.h"

namespace fs = std::filesystem;
using csweep::Error;
using csweep::test::GgufWriter;
using namespace csweep::model::gguf;
using csweep::model::DType;
using csweep::model::SafetensorsFile;

namespace {

constexpr int64_t kD = 32, kHeads = 4, kKv = 2, kHead = 8, kMlp = 64, kLayers = 2;

fs::path temp_dir() { return csweep::test::gguf_scratch_dir("convert"); }

std::vector<float> random_floats(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.f, 0.5f);
  std::vector<float> v(n);
  for (float& x : v) x = dist(rng);
  return v;
}

// convert_hf_to_gguf.py's LlamaModel.permute: within each head, HF row t * (d/2) + j is
// stored at row 2j + t.
std::vector<float> llama_cpp_permute(const std::vector<float>& w, int64_t rows, int64_t cols,
                                     int64_t heads) {
  const int64_t d = rows / heads, half = d / 2;
  std::vector<float> out(w.size());
  for (int64_t h = 0; h < heads; ++h)
    for (int64_t t = 0; t < 2; ++t)
      for (int64_t j = 0; j < half; ++j)
        for (int64_t c = 0; c < cols; ++c)
          out[(h * d + 2 * j + t) * cols + c] = w[(h * d + t * half + j) * cols + c];
  return out;
}

std::string f16_bytes(const std::vector<float>& v) {
  std::string b;
  for (float x : v) b += GgufWriter::pod(float_to_half(x));
  return b;
}

std::string random_blocks(GgmlType type, size_t n_elems, uint32_t seed) {
  auto info = *ggml_type_info(uint32_t(type));
  std::mt19937 rng(seed);
  std::string b(n_elems / info.block_elems * info.block_bytes, '\0');
  for (char& c : b) c = char(rng());
  for (size_t at = 0; at < b.size(); at += info.block_bytes) {  // a sane f16 scale in front
    uint16_t h = float_to_half(0.01f);
    std::memcpy(b.data() + at, &h, 2);
  }
  return b;
}

std::vector<std::string> vocabulary() {
  std::vector<std::string> tokens{"<|endoftext|>", "<|im_start|>"};
  for (const std::string& s : csweep::model::tokenizer::byte_to_unicode()) tokens.push_back(s);
  tokens.push_back("he");
  tokens.push_back("Ġt");
  tokens.push_back("Ġthe");
  return tokens;
}

struct Model {
  std::vector<float> q, k;  // the Hugging Face layouts, layer 0
  GgufWriter writer;
};

Model llama(const std::string& arch = "llama") {
  Model m;
  GgufWriter& w = m.writer;
  const auto tokens = vocabulary();
  const auto V = uint64_t(tokens.size());
  w.str("general.architecture", arch);
  w.str("general.name", "tiny test llama");
  w.u32(arch + ".block_count", kLayers);
  w.u32(arch + ".context_length", 256);
  w.u32(arch + ".embedding_length", kD);
  w.u32(arch + ".feed_forward_length", kMlp);
  w.u32(arch + ".attention.head_count", kHeads);
  w.u32(arch + ".attention.head_count_kv", kKv);
  w.f32(arch + ".rope.freq_base", 100000.f);
  w.f32(arch + ".attention.layer_norm_rms_epsilon", 1e-5f);
  w.u32(arch + ".rope.dimension_count", kHead);
  w.str("tokenizer.ggml.model", "gpt2");
  w.str("tokenizer.ggml.pre", "smollm");
  w.str_array("tokenizer.ggml.tokens", tokens);
  std::vector<int32_t> types(tokens.size(), 1);
  types[0] = types[1] = 3;
  w.i32_array("tokenizer.ggml.token_type", types);
  w.str_array("tokenizer.ggml.merges", {"h e", "Ġ t", "Ġt he"});
  w.u32("tokenizer.ggml.bos_token_id", 1);
  w.u32("tokenizer.ggml.eos_token_id", 0);

  w.tensor("token_embd.weight", {uint64_t(kD), V}, GgmlType::F16,
           f16_bytes(random_floats(V * kD, 1)));
  w.tensor_f32("output_norm.weight", {uint64_t(kD)}, random_floats(kD, 2));
  for (int64_t l = 0; l < kLayers; ++l) {
    const std::string b = "blk." + std::to_string(l) + ".";
    std::vector<float> q = random_floats(kHeads * kHead * kD, 10 + l),
                       k = random_floats(kKv * kHead * kD, 20 + l);
    if (l == 0) m.q = q, m.k = k;
    const bool permute = arch == "llama";
    w.tensor_f32(b + "attn_q.weight", {uint64_t(kD), uint64_t(kHeads * kHead)},
                 permute ? llama_cpp_permute(q, kHeads * kHead, kD, kHeads) : q);
    w.tensor_f32(b + "attn_k.weight", {uint64_t(kD), uint64_t(kKv * kHead)},
                 permute ? llama_cpp_permute(k, kKv * kHead, kD, kKv) : k);
    w.tensor(b + "attn_v.weight", {uint64_t(kD), uint64_t(kKv * kHead)}, GgmlType::Q8_0,
             random_blocks(GgmlType::Q8_0, kKv * kHead * kD, 30 + l));
    std::string bf16;
    for (float x : random_floats(kD * kHeads * kHead, 40 + l))
      bf16 += GgufWriter::pod(float_to_bf16(x));
    w.tensor(b + "attn_output.weight", {uint64_t(kHeads * kHead), uint64_t(kD)}, GgmlType::BF16,
             bf16);
    w.tensor_f32(b + "attn_norm.weight", {uint64_t(kD)}, random_floats(kD, 50 + l));
    w.tensor_f32(b + "ffn_norm.weight", {uint64_t(kD)}, random_floats(kD, 60 + l));
    w.tensor(b + "ffn_gate.weight", {uint64_t(kD), uint64_t(kMlp)}, GgmlType::Q4_0,
             random_blocks(GgmlType::Q4_0, kD * kMlp, 70 + l));
    w.tensor(b + "ffn_up.weight", {uint64_t(kD), uint64_t(kMlp)}, GgmlType::Q4_1,
             random_blocks(GgmlType::Q4_1, kD * kMlp, 80 + l));
    w.tensor(b + "ffn_down.weight", {uint64_t(kMlp), uint64_t(kD)}, GgmlType::Q5_0,
             random_blocks(GgmlType::Q5_0, kD * kMlp, 90 + l));
  }
  return m;
}

fs::path write(const GgufWriter& w, const std::string& name) {
  fs::path p = temp_dir() / name;
  w.write(p);
  return p;
}

std::vector<float> f32_of(const csweep::model::TensorEntry& e) {
  std::vector<float> v(size_t(e.numel()));
  std::memcpy(v.data(), e.data, v.size() * 4);
  return v;
}

using csweep::testing::error_of;

}  // namespace

TEST(GgufConvert, WritesAHuggingFaceFolderWithUnpermutedRotaryRows) {
  Model m = llama();
  fs::path src = write(m.writer, "tiny.gguf"), out = temp_dir() / "tiny-hf";
  ConvertOptions opt;
  opt.overwrite = true;
  ConvertSummary s = convert_gguf(src, out, opt);
  EXPECT_EQ(s.architecture, "llama");
  EXPECT_EQ(s.tensors, size_t(2 + 9 * kLayers));
  EXPECT_EQ(s.source_types["Q4_0"], size_t(kLayers));
  EXPECT_FALSE(fs::exists(temp_dir() / "tiny-hf.partial"));

  auto st = SafetensorsFile::open(out / "model.safetensors");
  EXPECT_EQ(st->metadata().at("format"), "pt");
  const auto* q = st->find("model.layers.0.self_attn.q_proj.weight");
  const auto* k = st->find("model.layers.0.self_attn.k_proj.weight");
  ASSERT_TRUE(q && k);
  EXPECT_EQ(q->shape, (std::vector<int64_t>{kHeads * kHead, kD}));
  EXPECT_EQ(k->shape, (std::vector<int64_t>{kKv * kHead, kD}));
  EXPECT_EQ(f32_of(*q), m.q);  // exactly the Hugging Face layout again
  EXPECT_EQ(f32_of(*k), m.k);
  EXPECT_TRUE(st->find("model.embed_tokens.weight"));
  EXPECT_TRUE(st->find("model.norm.weight"));
  EXPECT_TRUE(st->find("model.layers.1.mlp.down_proj.weight"));
  EXPECT_FALSE(st->find("lm_head.weight"));  // tied
  EXPECT_EQ(st->find("model.layers.1.mlp.down_proj.weight")->shape,
            (std::vector<int64_t>{kD, kMlp}));

  // Dequantised values: the Q8_0 v_proj equals dequantize() of its blocks (no permutation).
  auto blocks = random_blocks(GgmlType::Q8_0, kKv * kHead * kD, 30);
  std::vector<float> want(kKv * kHead * kD);
  dequantize(GgmlType::Q8_0, reinterpret_cast<const std::byte*>(blocks.data()), want.size(),
             want.data());
  EXPECT_EQ(f32_of(*st->find("model.layers.0.self_attn.v_proj.weight")), want);

  auto config = csweep::model::load_model_config(out);
  EXPECT_EQ(config.arch, csweep::model::Arch::Llama);
  EXPECT_EQ(config.n_layers, kLayers);
  EXPECT_EQ(config.n_kv_heads, kKv);
  EXPECT_EQ(config.d_head, kHead);
  EXPECT_EQ(config.d_vocab, int64_t(vocabulary().size()));
  EXPECT_EQ(config.rope_theta, 100000.0);
  EXPECT_EQ(config.norm_eps, 1e-5);  // the shortest decimal, not float32's 9.99999974738e-06
  EXPECT_TRUE(config.tie_word_embeddings);

  auto tok = csweep::model::load_tokenizer(out);
  EXPECT_EQ(tok->encode("the 42"),
            (std::vector<int64_t>{2 + 't', 2 + 256, 2 + ' ', 2 + '4', 2 + '2'}))
      << "'the' = t + he; digits split one by one (smollm)";
  EXPECT_EQ(tok->encode(" the<|im_start|>"), (std::vector<int64_t>{2 + 258, 1}));
  EXPECT_EQ(tok->bos_id(), 1);
  EXPECT_EQ(tok->eos_id(), 0);
  EXPECT_TRUE(tok->is_special(1));
  EXPECT_TRUE(fs::exists(out / "csweep_convert.json"));
}

TEST(GgufConvert, HalfAndBfloat16Outputs) {
  Model m = llama();
  fs::path src = write(m.writer, "tiny.gguf");
  for (DType dt : {DType::BF16, DType::F16}) {
    ConvertOptions opt;
    opt.overwrite = true;
    opt.dtype = dt;
    fs::path out = temp_dir() / (std::string("tiny-") + csweep::model::dtype_name(dt));
    convert_gguf(src, out, opt);
    auto st = SafetensorsFile::open(out / "model.safetensors");
    const auto* q = st->find("model.layers.0.self_attn.q_proj.weight");
    ASSERT_EQ(q->dtype, dt);
    for (size_t i = 0; i < m.q.size(); ++i) {
      uint16_t h;
      std::memcpy(&h, q->data + 2 * i, 2);
      ASSERT_EQ(h, dt == DType::BF16 ? float_to_bf16(m.q[i]) : float_to_half(m.q[i])) << i;
    }
    EXPECT_EQ(csweep::model::load_model_config(out).torch_dtype,
              dt == DType::BF16 ? "bfloat16" : "float16");
  }
}

TEST(GgufConvert, Qwen2IsNotPermuted) {
  Model m = llama("qwen2");
  // Qwen2 always has q/k/v biases.
  for (int64_t l = 0; l < kLayers; ++l) {
    const std::string b = "blk." + std::to_string(l) + ".";
    m.writer.tensor_f32(b + "attn_q.bias", {uint64_t(kHeads * kHead)},
                        random_floats(kHeads * kHead, 1));
    m.writer.tensor_f32(b + "attn_k.bias", {uint64_t(kKv * kHead)}, random_floats(kKv * kHead, 2));
    m.writer.tensor_f32(b + "attn_v.bias", {uint64_t(kKv * kHead)}, random_floats(kKv * kHead, 3));
  }
  fs::path src = write(m.writer, "tiny-qwen2.gguf"), out = temp_dir() / "tiny-qwen2";
  ConvertOptions opt;
  opt.overwrite = true;
  convert_gguf(src, out, opt);
  auto st = SafetensorsFile::open(out / "model.safetensors");
  EXPECT_EQ(f32_of(*st->find("model.layers.0.self_attn.q_proj.weight")), m.q);
  EXPECT_TRUE(st->find("model.layers.1.self_attn.v_proj.bias"));
  EXPECT_EQ(csweep::model::load_model_config(out).arch, csweep::model::Arch::Qwen2);
}

TEST(GgufConvert, UnsupportedContentIsAOneLineErrorAndLeavesNothingBehind) {
  auto convert_error = [](GgufWriter w, const std::string& name) {
    fs::path src = write(w, name + ".gguf"), out = temp_dir() / name;
    ConvertOptions opt;
    opt.overwrite = true;
    std::string e = error_of([&] { convert_gguf(src, out, opt); });
    EXPECT_FALSE(fs::exists(out)) << name;
    EXPECT_FALSE(fs::exists(temp_dir() / (name + ".partial"))) << name;
    EXPECT_EQ(e.find('\n'), std::string::npos) << e;
    return e;
  };
  {
    Model m = llama();
    m.writer.tensor("blk.1.attn_q_norm.weight", {256}, GgmlType::IQ2_XXS,
                    std::string(66, '\0'));  // llama has none
    EXPECT_NE(convert_error(m.writer, "shape")
                  .find("shape.gguf: tensor 'blk.1.attn_q_norm.weight': shape [256] does not fit"),
              std::string::npos);
  }
  {
    GgufWriter w;
    w.str("general.architecture", "llama");
    w.u32("llama.block_count", 1);
    w.u32("llama.embedding_length", 256);
    w.u32("llama.feed_forward_length", 256);
    w.u32("llama.attention.head_count", 1);
    w.f32("llama.attention.layer_norm_rms_epsilon", 1e-5f);
    w.u32("llama.vocab_size", 1);
    w.str("tokenizer.ggml.model", "gpt2");
    w.str("tokenizer.ggml.pre", "gpt-2");
    w.str_array("tokenizer.ggml.tokens", {"a"});
    w.tensor("token_embd.weight", {256, 1}, GgmlType::F32, std::string(1024, '\0'));
    w.tensor("output_norm.weight", {256}, GgmlType::F32, std::string(1024, '\0'));
    for (const char* n : {"attn_norm", "ffn_norm"})
      w.tensor(std::string("blk.0.") + n + ".weight", {256}, GgmlType::F32,
               std::string(1024, '\0'));
    for (const char* n : {"attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_down"})
      w.tensor(std::string("blk.0.") + n + ".weight", {256, 256}, GgmlType::Q4_K,
               std::string(256 * 144, '\0'));
    GgufWriter missing = w;
    EXPECT_NE(convert_error(missing, "missing")
                  .find("missing.gguf: tensor 'blk.0.ffn_up.weight': missing (required by llama)"),
              std::string::npos);
    w.tensor("blk.0.ffn_up.weight", {256, 256}, GgmlType::IQ2_XXS, std::string(256 * 66, '\0'));
    EXPECT_NE(convert_error(w, "iq2").find(
                  "iq2.gguf: tensor 'blk.0.ffn_up.weight': quantisation type IQ2_XXS is not "
                  "supported (supported: F32 F16 Q4_0 Q4_1 Q5_0 Q5_1 Q8_0 Q4_K Q5_K Q6_K BF16)"),
              std::string::npos)
        << convert_error(w, "iq2");
  }
  {
    Model m = llama();
    m.writer.tensor_f32("blk.0.attn_sinks.weight", {4}, {0, 0, 0, 0});
    EXPECT_NE(convert_error(m.writer, "extra")
                  .find("tensor 'blk.0.attn_sinks.weight': no Hugging Face counterpart"),
              std::string::npos);
  }
  {
    Model m = llama();
    m.writer.tensor_f32("blk.7.attn_norm.weight", {uint64_t(kD)}, random_floats(kD, 1));
    EXPECT_NE(convert_error(m.writer, "layer")
                  .find("tensor 'blk.7.attn_norm.weight': block index outside [0, 2)"),
              std::string::npos);
  }
  {
    Model m = llama("phi3");
    EXPECT_NE(convert_error(m.writer, "phi")
                  .find("metadata 'general.architecture': 'phi3' is not supported "
                        "(supported: llama, qwen2, qwen3, gemma3)"),
              std::string::npos);
  }
  {
    GgufWriter v;
    v.str("general.architecture", "llama");
    EXPECT_NE(convert_error(v, "nometa").find("metadata 'llama.block_count': missing"),
              std::string::npos);
  }
}

TEST(GgufConvert, RefusesTokenizersItCannotReproduce) {
  // The same file with other tokenizer.ggml.pre / .model strings, patched in place.
  Model m = llama();
  std::string bytes = m.writer.bytes();
  std::string pre = bytes;
  pre.replace(pre.find("smollm"), 6, "smolxx");
  fs::path src = temp_dir() / "pre.gguf";
  GgufWriter::write_bytes(src, pre);
  ConvertOptions opt;
  opt.overwrite = true;
  EXPECT_NE(
      error_of([&] {
        convert_gguf(src, temp_dir() / "pre", opt);
      }).find("pre.gguf: metadata 'tokenizer.ggml.pre': pre-tokenizer 'smolxx' is not supported"),
      std::string::npos);
  std::string spm = bytes;
  size_t at = spm.find("gpt2", spm.find("tokenizer.ggml.model"));
  spm.replace(at, 4, "bert");
  GgufWriter::write_bytes(src, spm);
  EXPECT_NE(error_of([&] {
              convert_gguf(src, temp_dir() / "pre", opt);
            }).find("metadata 'tokenizer.ggml.model': 'bert' vocabularies are not supported"),
            std::string::npos);
}

TEST(GgufConvert, NeverOverwritesWithoutForce) {
  Model m = llama();
  fs::path src = write(m.writer, "tiny.gguf"), out = temp_dir() / "existing";
  fs::create_directories(out);
  GgufWriter::write_bytes(out / "keep.txt", "mine");
  ConvertOptions opt;
  EXPECT_EQ(error_of([&] { convert_gguf(src, out, opt); }),
            out.string() + ": already exists (use --force to replace it)");
  EXPECT_TRUE(fs::exists(out / "keep.txt"));
  opt.overwrite = true;
  convert_gguf(src, out, opt);
  EXPECT_FALSE(fs::exists(out / "keep.txt"));
  EXPECT_TRUE(fs::exists(out / "config.json"));
}

namespace {

// A tiny Gemma 3 GGUF as llama.cpp writes one: SentencePiece vocabulary (byte tokens, a token of
// two real spaces, user-defined "\n"), no merges, norms stored as 1 + w, four norms a block.
GgufWriter gemma3(std::vector<float>* attn_norm0) {
  GgufWriter w;
  std::vector<std::string> tokens{"<pad>", "<eos>", "<bos>", "<unk>", "\n"};
  std::vector<int32_t> types{3, 3, 3, 2, 4};
  for (int b = 0; b < 256; ++b) {
    char hex[8];
    std::snprintf(hex, sizeof hex, "<0x%02X>", b);
    tokens.push_back(hex);
    types.push_back(6);
  }
  for (const char* t : {"\u2581", "t", "h", "e", "\u2581t", "he", "\u2581the", "  "}) {
    tokens.push_back(t);
    types.push_back(1);
  }
  const auto V = uint64_t(tokens.size());
  w.str("general.architecture", "gemma3");
  w.u32("gemma3.block_count", kLayers);
  w.u32("gemma3.context_length", 256);
  w.u32("gemma3.embedding_length", kD);
  w.u32("gemma3.feed_forward_length", kMlp);
  w.u32("gemma3.attention.head_count", kHeads);
  w.u32("gemma3.attention.head_count_kv", kKv);
  w.u32("gemma3.attention.key_length", kHead);
  w.u32("gemma3.attention.value_length", kHead);
  w.u32("gemma3.attention.sliding_window", 16);
  w.f32("gemma3.rope.freq_base", 1e6f);
  w.f32("gemma3.attention.layer_norm_rms_epsilon", 1e-6f);
  w.str("tokenizer.ggml.model", "llama");
  w.str("tokenizer.ggml.pre", "default");
  w.str_array("tokenizer.ggml.tokens", tokens);
  w.i32_array("tokenizer.ggml.token_type", types);
  w.u32("tokenizer.ggml.bos_token_id", 2);
  w.u32("tokenizer.ggml.eos_token_id", 1);
  w.u32("tokenizer.ggml.unknown_token_id", 3);
  w.boolean("tokenizer.ggml.add_bos_token", true);
  w.tensor_f32("token_embd.weight", {uint64_t(kD), V}, random_floats(V * kD, 1));
  w.tensor_f32("output_norm.weight", {uint64_t(kD)}, random_floats(kD, 2));
  for (int64_t l = 0; l < kLayers; ++l) {
    const std::string b = "blk." + std::to_string(l) + ".";
    w.tensor_f32(b + "attn_q.weight", {uint64_t(kD), uint64_t(kHeads * kHead)},
                 random_floats(kHeads * kHead * kD, 10 + l));
    w.tensor_f32(b + "attn_k.weight", {uint64_t(kD), uint64_t(kKv * kHead)},
                 random_floats(kKv * kHead * kD, 20 + l));
    w.tensor_f32(b + "attn_v.weight", {uint64_t(kD), uint64_t(kKv * kHead)},
                 random_floats(kKv * kHead * kD, 30 + l));
    w.tensor_f32(b + "attn_output.weight", {uint64_t(kHeads * kHead), uint64_t(kD)},
                 random_floats(kD * kHeads * kHead, 40 + l));
    for (const char* n : {"attn_q_norm", "attn_k_norm"})
      w.tensor_f32(b + n + ".weight", {uint64_t(kHead)}, random_floats(kHead, 45 + l));
    const std::vector<float> norm = random_floats(kD, 50 + l);
    if (l == 0) *attn_norm0 = norm;
    for (const char* n : {"attn_norm", "post_attention_norm", "ffn_norm", "post_ffw_norm"})
      w.tensor_f32(b + n + ".weight", {uint64_t(kD)}, norm);
    for (const char* n : {"ffn_gate", "ffn_up"})
      w.tensor_f32(b + n + ".weight", {uint64_t(kD), uint64_t(kMlp)},
                   random_floats(kD * kMlp, 60 + l));
    w.tensor_f32(b + "ffn_down.weight", {uint64_t(kMlp), uint64_t(kD)},
                 random_floats(kD * kMlp, 70 + l));
  }
  return w;
}

}  // namespace

TEST(GgufConvert, Gemma3NormsNamesConfigAndSentencePieceTokenizer) {
  std::vector<float> stored;
  fs::path src = write(gemma3(&stored), "tiny-gemma3.gguf"), out = temp_dir() / "tiny-gemma3";
  ConvertOptions opt;
  opt.overwrite = true;
  convert_gguf(src, out, opt);
  auto st = SafetensorsFile::open(out / "model.safetensors");
  // llama.cpp stores Gemma's norms as 1 + w; Hugging Face's are w.
  for (const char* n : {"input_layernorm", "post_attention_layernorm", "pre_feedforward_layernorm",
                        "post_feedforward_layernorm"}) {
    auto w = f32_of(*st->find(std::string("model.layers.0.") + n + ".weight"));
    ASSERT_EQ(w.size(), stored.size()) << n;
    for (size_t i = 0; i < w.size(); ++i) EXPECT_FLOAT_EQ(w[i], stored[i] - 1.0f) << n;
  }
  EXPECT_TRUE(st->find("model.layers.1.self_attn.q_norm.weight"));
  EXPECT_FALSE(st->find("lm_head.weight"));  // tied
  const auto c = csweep::model::load_model_config(out);
  EXPECT_EQ(c.arch, csweep::model::Arch::Gemma3);
  EXPECT_EQ(c.local_window, 16);
  EXPECT_EQ(c.local_layers, std::vector<bool>(kLayers, true));  // layer 6k+5 is the global one
  EXPECT_EQ(c.activation, csweep::model::Activation::GeluTanh);
  EXPECT_DOUBLE_EQ(c.attn_scale, 1.0 / std::sqrt(double(kHead)));

  auto tok = csweep::model::load_tokenizer(out);
  const int64_t byte0 = 5, sp = 261;  // <0x00>, then "▁" t h e ▁t he ▁the ▁▁
  // Spaces become "▁"; merges in file order (▁t, he, ▁the, ▁▁); "x" falls back to its byte; "\n"
  // is a user-defined token matched whole.
  EXPECT_EQ(tok->encode("the the  x\n"),
            (std::vector<int64_t>{sp + 1, sp + 5, sp + 6, sp + 7, byte0 + 'x', 4}));
  EXPECT_EQ(tok->decode(tok->encode("the the  x\n")), "the the  x\n");
  EXPECT_EQ(tok->bos_id(), 2);
  EXPECT_EQ(tok->encode("<bos>"), std::vector<int64_t>{2});
}
