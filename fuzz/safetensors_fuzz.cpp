// libFuzzer: a .safetensors file's bytes (header length, JSON header, data) through
// SafetensorsFile::open, then every tensor's bytes are touched (they must lie in the mapping).
#include "fuzz/fuzz_input.h"
#include "model/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto path =
      csweep::fuzz::write_scratch("model.safetensors", csweep::fuzz::as_text(data, size));
  csweep::fuzz::expect_clean([&] {
    auto file = csweep::model::SafetensorsFile::open(path);
    unsigned char sum = 0;
    for (const auto& t : file->tensors()) {
      if (t.nbytes > 0)
        sum ^= static_cast<unsigned char>(t.data[0]) ^
               static_cast<unsigned char>(t.data[t.nbytes - 1]);
      if (static_cast<size_t>(t.numel()) * csweep::model::dtype_size(t.dtype) != t.nbytes)
        __builtin_trap();
    }
    volatile unsigned char sink = sum;  // the reads must happen: ASan checks them
    (void)sink;
  });
  return 0;
}
