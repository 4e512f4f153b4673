// libFuzzer: a GGUF file through GgufFile::open, its tokenizer metadata through
// make_hf_tokenizer, and (for small files) the whole conversion to a Hugging Face folder
// (architecture metadata, tensor names and shapes, dequantisation).
#include "fuzz/fuzz_input.h"
#include "model/gguf/gguf_convert.h"
#include "model/gguf/gguf_file.h"
#include "model/gguf/gguf_tokenizer.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  namespace gguf = csweep::model::gguf;
  const auto path = csweep::fuzz::write_scratch("model.gguf", csweep::fuzz::as_text(data, size));
  csweep::fuzz::expect_clean([&] {
    auto file = gguf::GgufFile::open(path);
    for (const auto& t : file->tensors()) t.shape();
    gguf::make_hf_tokenizer(*file, 2048);
  });
  csweep::fuzz::expect_clean([&] {
    gguf::ConvertOptions options;
    options.overwrite = true;
    gguf::convert_gguf(path, csweep::fuzz::scratch_dir() / "converted", options);
  });
  return 0;
}
