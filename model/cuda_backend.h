#pragma once
// LibTorch's CUDA half, loaded on first use. csweep links only libtorch_cpu; libtorch_cuda.so
// (with cuDNN, cuBLAS, NCCL: ~3 GB of libraries) registers LibTorch's CUDA kernels and hooks
// when it is loaded, so it is dlopen()ed the first time a CUDA device is asked for.
#include <cstdint>
#include <string>

namespace csweep::model {

// Loads libtorch_cuda.so once per process; false (and why) if it cannot be loaded.
bool load_cuda_backend(std::string* why = nullptr);

// GPUs this process sees: 0 without the CUDA half, a driver or a GPU.
int64_t cuda_device_count();

}  // namespace csweep::model
