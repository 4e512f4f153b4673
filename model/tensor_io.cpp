#include "model/tensor_io.h"

#include <cstring>

#include "common/error.h"
#include "model/cuda_backend.h"

namespace csweep::model {

namespace {

std::vector<int64_t> as_sizes(const std::vector<int64_t>& shape) { return shape; }

// Copies rows [start, start+length) of dimension `dim` into a fresh tensor of the entry's own
// dtype. Used when the mapping is not aligned to the element size (old writers did not pad
// the header), where a from_blob view would make ATen read misaligned elements.
at::Tensor copy_slice_unaligned(const TensorEntry& entry, int64_t dim, int64_t start,
                                int64_t length) {
  std::vector<int64_t> sizes = as_sizes(entry.shape);
  int64_t outer = 1;
  for (int64_t i = 0; i < dim; ++i) outer *= sizes[i];
  int64_t inner_bytes = static_cast<int64_t>(dtype_size(entry.dtype));
  for (size_t i = dim + 1; i < sizes.size(); ++i) inner_bytes *= sizes[i];
  const int64_t full = sizes.empty() ? 1 : sizes[dim];
  if (!sizes.empty()) sizes[dim] = length;
  at::Tensor out = at::empty(sizes, at::TensorOptions().dtype(scalar_type(entry.dtype)));
  auto* dst = static_cast<std::byte*>(out.data_ptr());
  const int64_t chunk = length * inner_bytes;
  for (int64_t o = 0; o < outer; ++o)
    std::memcpy(dst + o * chunk, entry.data + (o * full + start) * inner_bytes, chunk);
  return out;
}

at::Tensor convert(const at::Tensor& source, c10::ScalarType dtype, const c10::Device& device,
                   bool source_is_view) {
  // copy=true when the source aliases the mapping: the result must own its memory.
  at::Tensor out = source.to(device, dtype, /*non_blocking=*/false, /*copy=*/source_is_view);
  return out.contiguous();
}

}  // namespace

c10::ScalarType scalar_type(DType dtype) {
  switch (dtype) {
    case DType::F64:
      return at::kDouble;
    case DType::F32:
      return at::kFloat;
    case DType::F16:
      return at::kHalf;
    case DType::BF16:
      return at::kBFloat16;
    case DType::I64:
      return at::kLong;
    case DType::I32:
      return at::kInt;
    case DType::I16:
      return at::kShort;
    case DType::I8:
      return at::kChar;
    case DType::U8:
      return at::kByte;
    case DType::BOOL:
      return at::kBool;
  }
  throw Error("internal: unknown DType");
}

at::Tensor to_tensor(const TensorEntry& entry, c10::ScalarType dtype, const c10::Device& device) {
  if (entry.shape.empty()) return to_tensor_slice(entry, 0, 0, 1, dtype, device);
  return to_tensor_slice(entry, 0, 0, entry.shape[0], dtype, device);
}

at::Tensor to_tensor_slice(const TensorEntry& entry, int64_t dim, int64_t start, int64_t length,
                           c10::ScalarType dtype, const c10::Device& device) {
  const std::string what = "tensor '" + entry.name + "'";
  const int64_t ndim = static_cast<int64_t>(entry.shape.size());
  if (ndim == 0) {
    // A scalar has no dimension to slice: only the whole of it (dim 0, [0, 1)) is accepted.
    if (dim != 0 || start != 0 || length != 1)
      throw error_at(entry.file, what, "slice of a 0-dimensional tensor");
  } else {
    if (dim < 0 || dim >= ndim)
      throw error_at(entry.file, what,
                     "slice dim " + std::to_string(dim) + " is out of range for shape " +
                         format_shape(entry.shape));
    if (start < 0 || length < 0 || start + length > entry.shape[dim])
      throw error_at(entry.file, what,
                     "slice [" + std::to_string(start) + ", " + std::to_string(start + length) +
                         ") of dim " + std::to_string(dim) + " is out of range for shape " +
                         format_shape(entry.shape));
  }
  const size_t element = dtype_size(entry.dtype);
  const bool aligned = reinterpret_cast<uintptr_t>(entry.data) % element == 0;
  if (!aligned) {
    at::Tensor staged = copy_slice_unaligned(entry, ndim == 0 ? 0 : dim, start, length);
    return convert(staged, dtype, device, /*source_is_view=*/false);
  }
  // from_blob never reads: narrow picks the slice, and the one copy below touches only it.
  at::Tensor view = at::from_blob(const_cast<std::byte*>(entry.data), as_sizes(entry.shape),
                                  at::TensorOptions().dtype(scalar_type(entry.dtype)));
  if (ndim > 0) view = view.narrow(dim, start, length);
  return convert(view, dtype, device, /*source_is_view=*/true);
}

void check_compute_dtype(c10::ScalarType dtype, const c10::Device& device) {
  if (!at::isFloatingType(dtype))
    throw Error(std::string("compute dtype ") + c10::toString(dtype) +
                " is not a floating-point type; use float32, bfloat16 or float16");
  if (dtype == at::kHalf && device.is_cpu())
    throw Error(
        "float16 compute runs on GPUs only (LibTorch's CPU half kernels are slow and untested "
        "here); use float32 "
        "or bfloat16 on CPU (F16 weights are converted)");
}

void check_device(const c10::Device& device) {
  if (device.is_cpu()) return;
  if (!device.is_cuda()) throw Error("device " + device.str() + ": not supported (cpu or cuda:N)");
  std::string why;
  if (!load_cuda_backend(&why))
    throw Error("device " + device.str() + ": LibTorch's CUDA backend could not be loaded (" + why +
                ")");
  // Without a driver or a GPU the CUDA backend reports no devices.
  const int64_t count = cuda_device_count();
  if (count == 0)
    throw Error("device " + device.str() +
                ": no CUDA GPU is visible on this machine (use device: cpu)");
  if (device.index() >= count)
    throw Error("device " + device.str() + ": this machine has " + std::to_string(count) +
                " CUDA GPU(s) (cuda:0 to cuda:" + std::to_string(count - 1) + ")");
}

}  // namespace csweep::model
