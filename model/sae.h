#pragma once
// A SAELens sparse autoencoder in ATen: encode and decode as SAELens 6.x computes them
// (StandardSAE, TopKSAE, JumpReLUSAE; apply_b_dec_to_input; run-time normalisation).
#include <filesystem>

#include <ATen/ATen.h>

#include "model/sae_config.h"

namespace csweep::model {

// Run-time normalisation of one input (layer_norm, constant_norm_rescale): the SAE encodes
// (x - shift) / in_scale and decode maps back by * out_scale + shift (SAELens's layer_norm
// divides by std + eps but multiplies back by std). Undefined tensors: identity.
struct SaeNorm {
  at::Tensor shift;
  at::Tensor in_scale;
  at::Tensor out_scale;
};

struct Sae {
  SaeConfig config;
  at::Tensor W_enc;      // [d_in, d_sae]
  at::Tensor b_enc;      // [d_sae]
  at::Tensor W_dec;      // [d_sae, d_in]
  at::Tensor b_dec;      // [d_in]
  at::Tensor threshold;  // [d_sae], jumprelu only

  c10::ScalarType dtype() const { return W_enc.scalar_type(); }
  // x: [..., d_in] (hook_z SAEs: [..., n_heads, d_head]), cast to the SAE's dtype.
  SaeNorm norm_of(const at::Tensor& x) const;
  at::Tensor encode(const at::Tensor& x) const;  // [..., d_sae]
  at::Tensor encode(const at::Tensor& x, const SaeNorm& norm) const;
  // acts: [..., d_sae] -> [..., d_in] (hook_z SAEs: [..., n_heads, d_in / n_heads] when
  // `heads` > 0). `norm` is the one of the input the acts came from.
  at::Tensor decode(const at::Tensor& acts, const SaeNorm& norm, int64_t heads = 0) const;
  // decode(acts + change * e_feature) - decode(acts) for inputs normalised by `norm`, computed
  // from the feature's decoder row alone: exactly 0 where `change` is 0, so an edit that
  // changes nothing leaves the activation bit for bit. change: [...]; result [..., d_in].
  at::Tensor feature_delta(int64_t feature, const at::Tensor& change, const SaeNorm& norm,
                           int64_t heads = 0) const;
};

// Reads FOLDER/cfg.json and FOLDER/sae_weights.safetensors (any float dtype) into the cfg's
// dtype on `device`. Throws csweep::Error naming the file and field or tensor.
Sae load_sae(const std::filesystem::path& folder, const c10::Device& device = c10::kCPU);

}  // namespace csweep::model
