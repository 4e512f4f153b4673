#include "model/cuda_backend.h"

#include <dlfcn.h>

#include <mutex>

#include <ATen/detail/CUDAHooksInterface.h>

#include "common/log.h"

namespace csweep::model {

bool load_cuda_backend(std::string* why) {
  static std::once_flag once;
  static bool loaded = false;
  static std::string error;
  std::call_once(once, [] {
    // Found through the executable's run path (the LibTorch it was linked against); GLOBAL so
    // that its kernels and hooks register with the libtorch_cpu already loaded.
    if (dlopen("libtorch_cuda.so", RTLD_NOW | RTLD_GLOBAL)) {
      // LibTorch keeps the first CUDA hooks object it hands out: code that asked for CUDA before
      // this load got the CPU-only stand-in for the life of the process.
      loaded = at::detail::getCUDAHooks().hasCUDART();
      if (!loaded)
        error =
            "LibTorch's CUDA hooks were queried before libtorch_cuda.so was loaded (a csweep bug)";
      else
        log::get("model")->debug("loaded LibTorch's CUDA backend (libtorch_cuda.so)");
    } else {
      const char* e = dlerror();
      error = e ? e : "unknown dlopen error";
    }
  });
  if (!loaded && why) *why = error;
  return loaded;
}

int64_t cuda_device_count() {
  if (!load_cuda_backend()) return 0;
  return at::detail::getCUDAHooks().deviceCount();
}

}  // namespace csweep::model
