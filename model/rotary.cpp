#include <cmath>

#include "model/layers.h"

namespace csweep::model {
namespace {

// HF's _compute_llama3_parameters: long wavelengths are slowed by `factor`, short ones kept,
// the band in between interpolated.
at::Tensor llama3_scaled(const at::Tensor& inv_freq, const RopeScaling& rs) {
  const double old_len = double(rs.original_max_position_embeddings);
  const double low_wavelen = old_len / rs.low_freq_factor;
  const double high_wavelen = old_len / rs.high_freq_factor;
  at::Tensor wavelen = 2 * M_PI / inv_freq;
  at::Tensor scaled = at::where(wavelen > low_wavelen, inv_freq / rs.factor, inv_freq);
  at::Tensor smooth =
      (old_len / wavelen - rs.low_freq_factor) / (rs.high_freq_factor - rs.low_freq_factor);
  at::Tensor smoothed = (1 - smooth) * scaled / rs.factor + smooth * scaled;
  at::Tensor medium = (wavelen >= high_wavelen).logical_and(wavelen <= low_wavelen);
  return at::where(medium, smoothed, scaled);
}

}  // namespace

void rotary_tables(const ModelConfig& c, int64_t seq, c10::ScalarType dtype, c10::Device device,
                   at::Tensor* cos, at::Tensor* sin) {
  const int64_t rot = c.rotary_dim;
  auto f32 = at::TensorOptions().dtype(at::kFloat);
  // inv_freq = 1 / base^(arange(0, rot, 2) / rot), in fp32 as the HF code computes it.
  at::Tensor exponent =
      at::arange(0, rot, 2, at::TensorOptions().dtype(at::kLong)).to(at::kFloat) / double(rot);
  at::Tensor inv_freq = 1.0 / at::pow(c.rope_theta, exponent);
  if (c.rope_scaling.type == "llama3") inv_freq = llama3_scaled(inv_freq, c.rope_scaling);
  if (c.rope_scaling.type == "linear") inv_freq = inv_freq / c.rope_scaling.factor;
  at::Tensor positions = at::arange(seq, f32);
  at::Tensor freqs = at::outer(positions, inv_freq);  // [seq, rot/2]
  at::Tensor emb = at::cat({freqs, freqs}, -1);       // [seq, rot]
  *cos = emb.cos().to(device, dtype);
  *sin = emb.sin().to(device, dtype);
}

at::Tensor apply_rotary(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin) {
  const int64_t rot = cos.size(1), d = x.size(-1), p = x.size(1);
  // [p, rot] -> [1, p, 1, rot] against x [b, p, heads, d_head]
  at::Tensor c = cos.narrow(0, 0, p).unsqueeze(1);
  at::Tensor s = sin.narrow(0, 0, p).unsqueeze(1);
  at::Tensor x_rot = rot == d ? x : x.narrow(-1, 0, rot);
  at::Tensor x1 = x_rot.narrow(-1, 0, rot / 2), x2 = x_rot.narrow(-1, rot / 2, rot / 2);
  at::Tensor rotated = at::cat({-x2, x1}, -1);
  at::Tensor out = x_rot * c + rotated * s;
  if (rot == d) return out;
  return at::cat({out, x.narrow(-1, rot, d - rot)}, -1);
}

}  // namespace csweep::model
