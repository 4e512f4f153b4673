#pragma once
// Memory-mapped safetensors entries -> at::Tensor. The only copy is the final one into the
// requested dtype and device: the source is an at::from_blob view of the mapping.
#include <cstdint>

#include <ATen/ATen.h>

#include "model/safetensors.h"

namespace csweep::model {

c10::ScalarType scalar_type(DType dtype);

// The whole tensor, converted to `dtype` on `device` (always a fresh tensor that owns its
// memory; never aliases the mapping, so the checkpoint can be closed afterwards).
at::Tensor to_tensor(const TensorEntry& entry, c10::ScalarType dtype, const c10::Device& device);

// entry.narrow(dim, start, length) converted to `dtype` on `device`; only the slice's bytes
// are read from the mapping (tensor parallelism loads a rank's rows or columns of a weight).
// Throws csweep::Error "FILE: tensor 'NAME': slice ..." when the range is out of bounds.
at::Tensor to_tensor_slice(const TensorEntry& entry, int64_t dim, int64_t start, int64_t length,
                           c10::ScalarType dtype, const c10::Device& device);

// Refuses compute dtypes LibTorch cannot run on `device` (float16 on CPU in LibTorch 1.13),
// and dtypes that are not floating point. Throws csweep::Error.
void check_compute_dtype(c10::ScalarType dtype, const c10::Device& device);
// cpu, or cuda:N with N < the number of GPUs this process sees; throws csweep::Error otherwise.
void check_device(const c10::Device& device);

}  // namespace csweep::model
