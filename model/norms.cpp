#include "model/layers.h"

namespace csweep::model {

at::Tensor rms_norm(const at::Tensor& x, const at::Tensor& w, double eps) {
  at::Tensor xf = x.to(at::kFloat);
  at::Tensor normalized = xf * at::rsqrt(xf.pow(2).mean(-1, true) + eps);
  return w * normalized.to(x.scalar_type());
}

at::Tensor norm(const at::Tensor& x, const at::Tensor& w, const at::Tensor& b, const ModelConfig& c,
                Hooks* hooks, HookPoint scale_point, HookPoint normalized_point, int64_t layer) {
  const bool hooked =
      hooks && (hooks->active({scale_point, layer}) || hooks->active({normalized_point, layer}));
  const c10::ScalarType dtype = x.scalar_type();
  if (!hooked) {  // the fused kernels
    if (c.norm == NormKind::RmsNorm) return rms_norm(x, w, c.norm_eps);
    if (dtype == at::kFloat) return at::layer_norm(x, {x.size(-1)}, w, b, c.norm_eps);
    return at::layer_norm(x.to(at::kFloat), {x.size(-1)}, w.to(at::kFloat), b.to(at::kFloat),
                          c.norm_eps)
        .to(dtype);
  }
  // Spelled out so that the scale and the normalized activation are visible to hooks.
  at::Tensor xf = x.to(at::kFloat);
  if (c.norm == NormKind::LayerNorm) xf = xf - xf.mean(-1, true);
  at::Tensor scale = (xf.pow(2).mean(-1, true) + c.norm_eps).sqrt().to(dtype);
  visit(hooks, scale_point, layer, scale);
  at::Tensor normalized = xf / scale.to(at::kFloat);
  if (c.norm == NormKind::LayerNorm) {
    normalized = (normalized * w.to(at::kFloat) + b.to(at::kFloat)).to(dtype);
    visit(hooks, normalized_point, layer, normalized);
    return normalized;
  }
  normalized = normalized.to(dtype);
  visit(hooks, normalized_point, layer, normalized);
  return normalized * w;
}

}  // namespace csweep::model
