#include "model/sae.h"

#include "common/error.h"
#include "model/safetensors.h"
#include "model/tensor_io.h"

namespace csweep::model {
namespace {

c10::ScalarType sae_scalar_type(const std::string& dtype) {
  if (dtype == "float64") return at::kDouble;
  if (dtype == "float16") return at::kHalf;
  if (dtype == "bfloat16") return at::kBFloat16;
  return at::kFloat;
}

at::Tensor read_tensor(const SafetensorsFile& file, const std::string& path,
                       const std::string& name, const std::vector<int64_t>& shape,
                       c10::ScalarType dtype, const c10::Device& device) {
  const TensorEntry* e = file.find(name);
  if (!e) throw error_at(path, "tensor '" + name + "'", "missing");
  if (e->shape != shape)
    throw error_at(path, "tensor '" + name + "'",
                   "shape " + format_shape(e->shape) + ", expected " + format_shape(shape) +
                       " from cfg.json's d_in and d_sae");
  return to_tensor(*e, dtype, device);
}

}  // namespace

SaeNorm Sae::norm_of(const at::Tensor& x_in) const {
  SaeNorm n;
  at::Tensor x = x_in.to(dtype());
  if (config.reshape_hook_z) x = x.flatten(-2);
  if (config.normalize == SaeNormalization::LayerNorm) {
    n.shift = x.mean(-1, true);
    n.out_scale = (x - n.shift).std(-1, /*unbiased=*/true, /*keepdim=*/true);
    n.in_scale = n.out_scale + 1e-5;
  } else if (config.normalize == SaeNormalization::ConstantNormRescale) {
    // SAELens multiplies by sqrt(d_in) / |x| and divides by the same coefficient.
    const at::Tensor coeff = std::sqrt(static_cast<double>(config.d_in)) / x.norm(2, -1, true);
    n.in_scale = 1.0 / coeff;
    n.out_scale = n.in_scale;
  }
  return n;
}

at::Tensor Sae::encode(const at::Tensor& x) const { return encode(x, norm_of(x)); }

at::Tensor Sae::encode(const at::Tensor& x_in, const SaeNorm& norm) const {
  at::Tensor x = x_in.to(dtype());
  if (config.reshape_hook_z) x = x.flatten(-2);
  if (norm.shift.defined()) x = x - norm.shift;
  if (norm.in_scale.defined()) x = x / norm.in_scale;
  if (config.apply_b_dec_to_input) x = x - b_dec;
  at::Tensor pre = at::matmul(x, W_enc) + b_enc;
  switch (config.architecture) {
    case SaeArchitecture::Standard:
      return at::relu(pre);
    case SaeArchitecture::JumpReLU:
      return at::relu(pre) * (pre > threshold).to(pre.scalar_type());
    case SaeArchitecture::TopK: {
      if (config.rescale_acts_by_decoder_norm) pre = pre * W_dec.norm(2, -1);
      auto [values, indices] = at::topk(pre, config.k, -1, /*largest=*/true, /*sorted=*/false);
      return at::zeros_like(pre).scatter_(-1, indices, at::relu(values));
    }
  }
  return pre;
}

at::Tensor Sae::decode(const at::Tensor& acts_in, const SaeNorm& norm, int64_t heads) const {
  at::Tensor acts = acts_in.to(dtype());
  if (config.architecture == SaeArchitecture::TopK && config.rescale_acts_by_decoder_norm)
    acts = acts * (1.0 / W_dec.norm(2, -1));
  at::Tensor out = at::matmul(acts, W_dec) + b_dec;
  if (norm.out_scale.defined()) out = out * norm.out_scale;
  if (norm.shift.defined()) out = out + norm.shift;
  if (config.reshape_hook_z && heads > 0) out = out.unflatten(-1, {heads, config.d_in / heads});
  return out;
}

at::Tensor Sae::feature_delta(int64_t feature, const at::Tensor& change, const SaeNorm& norm,
                              int64_t heads) const {
  at::Tensor row = W_dec[feature];
  if (config.architecture == SaeArchitecture::TopK && config.rescale_acts_by_decoder_norm)
    row = row * (1.0 / row.norm());
  at::Tensor out = change.to(dtype()).unsqueeze(-1) * row;
  if (norm.out_scale.defined()) out = out * norm.out_scale;
  if (config.reshape_hook_z && heads > 0) out = out.unflatten(-1, {heads, config.d_in / heads});
  return out;
}

Sae load_sae(const std::filesystem::path& folder, const c10::Device& device) {
  Sae sae;
  sae.config = read_sae_config(folder);
  const SaeConfig& c = sae.config;
  const std::string path = c.weights_path().string();
  if (!std::filesystem::exists(c.weights_path())) throw error_at(path, "", "missing");
  const auto file = SafetensorsFile::open(c.weights_path());
  const c10::ScalarType dtype = sae_scalar_type(c.dtype);
  sae.W_enc = read_tensor(*file, path, "W_enc", {c.d_in, c.d_sae}, dtype, device);
  sae.b_enc = read_tensor(*file, path, "b_enc", {c.d_sae}, dtype, device);
  sae.W_dec = read_tensor(*file, path, "W_dec", {c.d_sae, c.d_in}, dtype, device);
  sae.b_dec = read_tensor(*file, path, "b_dec", {c.d_in}, dtype, device);
  if (c.architecture == SaeArchitecture::JumpReLU) {
    // Older SAELens checkpoints store log_threshold; SAELens loads exp of it.
    if (file->find("threshold") || !file->find("log_threshold"))
      sae.threshold = read_tensor(*file, path, "threshold", {c.d_sae}, dtype, device);
    else
      sae.threshold =
          read_tensor(*file, path, "log_threshold", {c.d_sae}, at::kFloat, device).exp().to(dtype);
  }
  return sae;
}

}  // namespace csweep::model
