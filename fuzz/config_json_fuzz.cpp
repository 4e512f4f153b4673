// libFuzzer: a checkpoint's config.json through load_model_config (every architecture's
// fields, types and ranges).
#include "fuzz/fuzz_input.h"
#include "model/config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  csweep::fuzz::write_scratch("config.json", csweep::fuzz::as_text(data, size));
  csweep::fuzz::expect_clean([] { csweep::model::load_model_config(csweep::fuzz::scratch_dir()); });
  return 0;
}
