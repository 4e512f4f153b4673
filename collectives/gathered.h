#pragma once
// Backends gather into one [ranks, ...] buffer (rank r's tensor at index r); this turns it into
// the ranks' tensors concatenated along `dim`, as model::Collective::all_gather promises.
#include <vector>

#include <ATen/ATen.h>

namespace csweep::collectives {

// The [ranks, ...] buffer a gather of `tensor` from `ranks` ranks writes into.
inline at::Tensor empty_stacked(const at::Tensor& tensor, int ranks) {
  std::vector<int64_t> shape{ranks};
  for (int64_t s : tensor.sizes()) shape.push_back(s);
  return at::empty(shape, tensor.options());
}

inline at::Tensor concatenate_stacked(const at::Tensor& stacked, int64_t dim) {
  if (dim == 0) return stacked.flatten(0, 1);
  // [R, d0, .., d_dim, ..] -> [d0, .., R, d_dim, ..] -> merge R into d_dim.
  return stacked.movedim(0, dim).flatten(dim, dim + 1).contiguous();
}

}  // namespace csweep::collectives
