#include <limits>

#include "model/layers.h"

namespace csweep::model {

at::Tensor causal_mask(const ModelConfig& c, int64_t seq, c10::ScalarType dtype,
                       c10::Device device) {
  at::Tensor i = at::arange(seq, at::TensorOptions().dtype(at::kLong)).unsqueeze(1);  // query
  at::Tensor j = at::arange(seq, at::TensorOptions().dtype(at::kLong)).unsqueeze(0);  // key
  at::Tensor allowed = j <= i;
  // Mistral's window: each query sees itself and the sliding_window - 1 keys before it.
  if (c.sliding_window > 0) allowed = allowed.logical_and((i - j) < c.sliding_window);
  at::Tensor mask = at::zeros({seq, seq}, at::TensorOptions().dtype(at::kFloat));
  mask.masked_fill_(allowed.logical_not(), -std::numeric_limits<float>::infinity());
  return mask.to(device, dtype);
}

}  // namespace csweep::model
