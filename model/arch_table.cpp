#include "model/arch_table.h"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>

#include "common/error.h"
#include "common/log.h"
#include "model/tensor_io.h"

namespace csweep::model {

const char* role_name(Role role) {
  switch (role) {
    case Role::TokenEmbed:
      return "token_embd";
    case Role::PosEmbed:
      return "pos_embd";
    case Role::AttnNorm:
      return "attn_norm";
    case Role::AttnNormBias:
      return "attn_norm_bias";
    case Role::AttnQKV:
      return "attn_qkv";
    case Role::AttnQKVBias:
      return "attn_qkv_bias";
    case Role::AttnQ:
      return "attn_q";
    case Role::AttnQBias:
      return "attn_q_bias";
    case Role::AttnK:
      return "attn_k";
    case Role::AttnKBias:
      return "attn_k_bias";
    case Role::AttnV:
      return "attn_v";
    case Role::AttnVBias:
      return "attn_v_bias";
    case Role::AttnQNorm:
      return "attn_q_norm";
    case Role::AttnKNorm:
      return "attn_k_norm";
    case Role::AttnPostNorm:
      return "post_attention_norm";
    case Role::AttnOut:
      return "attn_output";
    case Role::AttnOutBias:
      return "attn_output_bias";
    case Role::FfnNorm:
      return "ffn_norm";
    case Role::FfnNormBias:
      return "ffn_norm_bias";
    case Role::FfnUp:
      return "ffn_up";
    case Role::FfnUpBias:
      return "ffn_up_bias";
    case Role::FfnGate:
      return "ffn_gate";
    case Role::FfnDown:
      return "ffn_down";
    case Role::FfnDownBias:
      return "ffn_down_bias";
    case Role::FfnPostNorm:
      return "post_ffw_norm";
    case Role::OutputNorm:
      return "output_norm";
    case Role::OutputNormBias:
      return "output_norm_bias";
    case Role::Output:
      return "output";
  }
  return "?";
}

const ArchTable& arch_table(Arch arch) {
  switch (arch) {
    case Arch::Gpt2:
      return gpt2_table();
    case Arch::GptNeoX:
      return gpt_neox_table();
    case Arch::Llama:
      return llama_table();
    case Arch::Mistral:
      return mistral_table();
    case Arch::Qwen2:
      return qwen2_table();
    case Arch::Qwen3:
      return qwen3_table();
    case Arch::Gemma3:
      return gemma3_table();
  }
  throw Error(std::string("no tensor table for architecture ") + arch_name(arch));
}

namespace {

std::string format_name(const char* format, int64_t layer) {
  std::string s = format;
  size_t at = s.find("{L}");
  if (at != std::string::npos) s.replace(at, 3, std::to_string(layer));
  return s;
}

std::string shape_string(const std::vector<int64_t>& shape) { return format_shape(shape); }

// A tensor's pages of the read-only checkpoint mapping, once its slice is copied, would count
// towards this process's resident memory until the checkpoint is closed: a tensor-parallel rank
// that reads its columns of W_O touches most of W_O's pages. They are clean file pages, so
// dropping them is free (a later read faults them back in) and keeps a rank's peak near its
// slice. The entries here always point into SafetensorsFile's mmap (never anonymous memory).
void release_pages(const std::byte* data, size_t nbytes) {
  static const uintptr_t page = static_cast<uintptr_t>(::sysconf(_SC_PAGESIZE));
  const auto begin = reinterpret_cast<uintptr_t>(data) & ~(page - 1);
  const uintptr_t end = reinterpret_cast<uintptr_t>(data) + nbytes;
  if (end > begin) ::madvise(reinterpret_cast<void*>(begin), end - begin, MADV_DONTNEED);
}

}  // namespace

at::Tensor read_slice(const TensorEntry& e, int64_t dim, int64_t start, int64_t length,
                      c10::ScalarType dtype, c10::Device device, size_t block_bytes) {
  const size_t element = dtype_size(e.dtype);
  if (e.shape.size() < 2 || e.nbytes <= block_bytes || device.is_meta() ||
      reinterpret_cast<uintptr_t>(e.data) % element != 0) {
    at::Tensor t = to_tensor_slice(e, dim, start, length, dtype, device);
    release_pages(e.data, e.nbytes);
    return t;
  }
  to_tensor_slice(e, dim, start, length, dtype, at::kMeta);  // the range checks; reads nothing
  const int64_t rows = e.shape[0];
  const size_t row_bytes = e.nbytes / static_cast<size_t>(rows);
  const int64_t first = dim == 0 ? start : 0, end = dim == 0 ? start + length : rows;
  const int64_t step = std::max<int64_t>(1, static_cast<int64_t>(block_bytes / row_bytes));
  std::vector<int64_t> shape = e.shape;
  shape[static_cast<size_t>(dim)] = length;
  at::Tensor out = at::empty(shape, at::TensorOptions().dtype(dtype).device(device));
  for (int64_t r = first; r < end; r += step) {
    const int64_t n = std::min(step, end - r);
    std::vector<int64_t> block_shape = e.shape;
    block_shape[0] = n;
    std::byte* data = const_cast<std::byte*>(e.data) + static_cast<size_t>(r) * row_bytes;
    at::Tensor block =
        at::from_blob(data, block_shape, at::TensorOptions().dtype(scalar_type(e.dtype)));
    if (dim != 0) block = block.narrow(dim, start, length);
    out.narrow(0, r - first, n).copy_(block);
    release_pages(data, static_cast<size_t>(n) * row_bytes);
  }
  return out;
}

namespace {

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

}  // namespace

ArchTensors::ArchTensors(const CheckpointFiles& files, const ArchTable& table,
                         const ModelConfig& config, c10::ScalarType dtype, c10::Device device,
                         const Partition& part)
    : files_(files), table_(table), config_(config), dtype_(dtype), device_(device), part_(part) {
  if (part_.size == 1 && part_.q_count == 0) part_ = partition_of(config, 0, 1);
  // The hub's GPT-2 files drop "transformer."; save_pretrained writes it. Decide once, from
  // the token embedding, which style this checkpoint uses.
  const TensorName& embed = entry(Role::TokenEmbed);
  std::string bare = format_name(embed.format, -1);
  prefixed_ = files_.find(table_.base_prefix + bare) != nullptr || files_.find(bare) == nullptr;
}

const TensorName& ArchTensors::entry(Role role) const {
  for (const TensorName& n : table_.names)
    if (n.role == role) return n;
  throw Error(std::string("internal: architecture ") + arch_name(table_.arch) +
              " has no tensor for role " + role_name(role));
}

std::string ArchTensors::name(Role role, int64_t layer) const {
  const TensorName& n = entry(role);
  std::string s = format_name(n.format, layer);
  return n.in_base && prefixed_ ? table_.base_prefix + s : s;
}

bool ArchTensors::has(Role role, int64_t layer) const {
  return files_.find(name(role, layer)) != nullptr;
}

std::string ArchTensors::source_file() const {
  if (files_.files().size() == 1) return files_.files().front()->path().string();
  return (files_.dir() / "model.safetensors.index.json").string();
}

at::Tensor ArchTensors::get(Role role, int64_t layer, const std::vector<int64_t>& shape) {
  get_or_throw_missing(role, layer);
  return get_if(role, layer, shape);
}

at::Tensor ArchTensors::get_if(Role role, int64_t layer, const std::vector<int64_t>& shape) {
  const TensorEntry* e = checked(role, layer, shape);
  if (!e) return {};
  return read_slice(*e, 0, 0, e->shape.empty() ? 1 : e->shape[0], dtype_, device_);
}

at::Tensor ArchTensors::get_split(Role role, int64_t layer, const std::vector<int64_t>& shape,
                                  Split split, int64_t dim, int64_t offset, int64_t per) {
  get_or_throw_missing(role, layer);
  const TensorEntry* e = checked(role, layer, shape);
  int64_t first = part_.mlp_first, count = part_.mlp_count;
  if (split == Split::QHeads) first = part_.q_first, count = part_.q_count;
  if (split == Split::KvHeads) first = part_.kv_first, count = part_.kv_count;
  if (per == 0) per = split == Split::Neurons ? 1 : config_.d_head;
  return read_slice(*e, dim, offset + first * per, count * per, dtype_, device_);
}

void ArchTensors::get_or_throw_missing(Role role, int64_t layer) const {
  std::string n = name(role, layer);
  if (!files_.find(n))
    throw error_at(source_file(), "tensor '" + n + "'",
                   std::string("missing (required by ") + arch_name(table_.arch) + ")");
}

const TensorEntry* ArchTensors::checked(Role role, int64_t layer,
                                        const std::vector<int64_t>& shape) {
  std::string n = name(role, layer);
  const TensorEntry* e = files_.find(n);
  if (!e) return nullptr;
  if (e->shape != shape)
    throw error_at(e->file, "tensor '" + n + "'",
                   "shape " + shape_string(e->shape) + " but " + arch_name(table_.arch) +
                       " with this config.json needs " + shape_string(shape));
  if (e->dtype != DType::F32 && e->dtype != DType::F16 && e->dtype != DType::BF16 &&
      e->dtype != DType::F64)
    throw error_at(
        e->file, "tensor '" + n + "'",
        std::string("dtype ") + dtype_name(e->dtype) + " is not a floating-point weight type");
  used_.insert(n);
  return e;
}

void ArchTensors::skip(Role role, int64_t layer) {
  std::string n = name(role, layer);
  if (files_.find(n)) used_.insert(n);
}

std::vector<std::string> ArchTensors::unexpected() const {
  std::vector<std::string> out;
  for (const std::string& n : files_.names()) {
    if (used_.count(n)) continue;
    bool ignored = std::any_of(table_.ignored_suffixes.begin(), table_.ignored_suffixes.end(),
                               [&](const std::string& s) { return ends_with(n, s); });
    if (!ignored) out.push_back(n);
  }
  return out;
}

Weights load_weights(const CheckpointFiles& files, const ModelConfig& config, c10::ScalarType dtype,
                     c10::Device device, std::vector<std::string>* unexpected,
                     const Partition& part) {
  const ArchTable& table = arch_table(config.arch);
  ArchTensors tensors(files, table, config, dtype, device, part);
  Weights w = table.convert(tensors, config);
  std::vector<std::string> extra = tensors.unexpected();
  if (!extra.empty()) {
    std::string list;
    for (const std::string& n : extra) list += (list.empty() ? "" : ", ") + n;
    log::get("model")->warn("{}: {} unexpected tensor(s) not used by {}: {}", files.dir().string(),
                            extra.size(), arch_name(config.arch), list);
  }
  if (unexpected) *unexpected = std::move(extra);
  return w;
}

}  // namespace csweep::model
