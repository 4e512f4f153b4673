#include "model/gguf/gguf_convert.h"

#include <cstring>
#include <fstream>
#include <set>

#include <nlohmann/json.hpp>

#include "common/error.h"
#include "common/log.h"
#include "common/sha256.h"
#include "model/gguf/gguf_arch.h"
#include "model/gguf/gguf_file.h"
#include "model/gguf/gguf_tokenizer.h"
#include "model/gguf/half.h"
#include "model/safetensors_writer.h"
#include "model/weight_dtype.h"

namespace csweep::model::gguf {
namespace {

namespace fs = std::filesystem;

std::vector<std::byte> to_bytes(const std::vector<float>& x, DType dtype) {
  std::vector<std::byte> out(x.size() * dtype_size(dtype));
  if (dtype == DType::F32) {
    std::memcpy(out.data(), x.data(), out.size());
    return out;
  }
  for (size_t i = 0; i < x.size(); ++i) {
    const uint16_t h = dtype == DType::BF16 ? float_to_bf16(x[i]) : float_to_half(x[i]);
    out[2 * i] = std::byte(h & 0xff);
    out[2 * i + 1] = std::byte(h >> 8);
  }
  return out;
}

void write_json(const fs::path& path, const nlohmann::ordered_json& j) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) throw error_at(path.string(), "", "cannot open for writing");
  out << j.dump(2, ' ', false, nlohmann::json::error_handler_t::strict) << "\n";
  if (!out) throw error_at(path.string(), "", "write failed");
}

// The tensors every block and the model need (biases and q/k norms are optional).
void check_required(const GgufFile& f, const GgufModelShape& s) {
  std::vector<std::string> need{"token_embd.weight", "output_norm.weight"};
  for (int64_t l = 0; l < s.n_layers; ++l)
    for (const char* n : {"attn_norm", "attn_q", "attn_k", "attn_v", "attn_output", "ffn_norm",
                          "ffn_gate", "ffn_up", "ffn_down"})
      need.push_back("blk." + std::to_string(l) + "." + n + ".weight");
  std::vector<const char*> more;
  if (s.arch == "qwen3") more = {"attn_q_norm", "attn_k_norm"};
  if (s.arch == "gemma3")
    more = {"attn_q_norm", "attn_k_norm", "post_attention_norm", "post_ffw_norm"};
  for (int64_t l = 0; l < s.n_layers; ++l)
    for (const char* n : more) need.push_back("blk." + std::to_string(l) + "." + n + ".weight");
  for (const std::string& n : need)
    if (!f.find_tensor(n))
      throw error_at(f.path().string(), "tensor '" + n + "'",
                     "missing (required by " + s.arch + ")");
}

std::string file_sha256(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  Sha256 h;
  std::vector<char> buf(1 << 20);
  while (in) {
    in.read(buf.data(), std::streamsize(buf.size()));
    h.update(buf.data(), size_t(in.gcount()));
  }
  return h.hex_digest();
}

}  // namespace

ConvertSummary convert_gguf(const fs::path& gguf_file, const fs::path& out_dir,
                            const ConvertOptions& opt) {
  auto log = log::get("gguf");
  if (opt.dtype != DType::F32 && opt.dtype != DType::BF16 && opt.dtype != DType::F16)
    throw Error(std::string("--dtype: ") + dtype_name(opt.dtype) +
                " is not a weight dtype (float32, bfloat16, float16)");
  std::error_code ec;
  if (fs::exists(out_dir) && !opt.overwrite &&
      !(fs::is_directory(out_dir) && fs::is_empty(out_dir, ec)))
    throw error_at(out_dir.string(), "", "already exists (use --force to replace it)");

  auto f = GgufFile::open(gguf_file);
  const std::string file = gguf_file.string();
  GgufModelShape shape = read_model_shape(*f);
  check_required(*f, shape);
  nlohmann::ordered_json config = make_hf_config(*f, shape, weight_dtype_name(opt.dtype));
  HfTokenizerFiles tok;
  if (opt.tokenizer) tok = make_hf_tokenizer(*f, config["max_position_embeddings"].get<int64_t>());
  log->info("{}: {} ({} layers, d_model {}, {} heads / {} KV heads, vocab {}), {} tensors", file,
            shape.arch, shape.n_layers, shape.d_model, shape.n_heads, shape.n_kv_heads,
            shape.d_vocab, f->tensors().size());

  ConvertSummary summary;
  summary.architecture = shape.arch;
  std::vector<TensorBytes> out;
  std::set<std::string> hf_names;
  for (const TensorInfo& t : f->tensors()) {
    HfTensorPlan plan = plan_tensor(*f, shape, t);
    if (!hf_names.insert(plan.hf_name).second)
      throw error_at(file, "tensor '" + t.name + "'", "maps to " + plan.hf_name + " twice");
    std::vector<float> values(t.numel());
    try {
      dequantize(GgmlType(t.type), t.data, values.size(), values.data());
    } catch (const Error& e) {
      throw error_at(file, "tensor '" + t.name + "'", e.what());
    }
    if (plan.shift != 0)
      for (float& v : values) v += plan.shift;
    if (plan.unpermute_heads > 0) {
      const int64_t rows = plan.shape[0], cols = plan.shape.size() > 1 ? plan.shape[1] : 1;
      unpermute_rotary_rows(values, rows, cols, plan.unpermute_heads);
    }
    summary.parameters += values.size();
    summary.source_types[ggml_type_name(t.type)] += 1;
    out.push_back({plan.hf_name, opt.dtype, plan.shape, to_bytes(values, opt.dtype)});
    log->debug("{} ({} {}) -> {}{}", t.name, ggml_type_name(t.type), format_shape(t.shape()),
               plan.hf_name, plan.unpermute_heads ? " (rotary rows un-permuted)" : "");
  }
  summary.tensors = out.size();

  nlohmann::ordered_json provenance;
  provenance["converted_by"] = "csweep convert gguf";
  provenance["source"] = gguf_file.filename().string();
  provenance["source_bytes"] = fs::file_size(gguf_file);
  provenance["source_sha256"] = file_sha256(gguf_file);
  provenance["gguf_version"] = f->version();
  provenance["dtype"] = weight_dtype_name(opt.dtype);
  provenance["source_tensor_types"] = summary.source_types;
  for (const auto& [key, v] : f->metadata())
    if (key.rfind("general.", 0) == 0 && v.type == ValueType::STRING)
      provenance["general"][key.substr(8)] = v.s;

  // Write everything under a temporary name, then swap it in.
  fs::path tmp = out_dir;
  tmp += ".partial";
  fs::remove_all(tmp);
  fs::create_directories(tmp);
  try {
    write_json(tmp / "config.json", config);
    if (opt.tokenizer) {
      write_json(tmp / "tokenizer.json", tok.tokenizer_json);
      write_json(tmp / "tokenizer_config.json", tok.tokenizer_config);
    }
    write_json(tmp / "csweep_convert.json", provenance);
    write_safetensors(tmp / "model.safetensors", std::move(out),
                      {{"format", "pt"}, {"source", "gguf:" + gguf_file.filename().string()}});
    fs::remove_all(out_dir);
    fs::rename(tmp, out_dir);
  } catch (...) {
    fs::remove_all(tmp, ec);
    throw;
  }
  log->info("{}: wrote {} tensors ({} parameters, {}) to {}", file, summary.tensors,
            summary.parameters, weight_dtype_name(opt.dtype), out_dir.string());
  return summary;
}

}  // namespace csweep::model::gguf
