// libFuzzer: a tokenizer.json through load_tokenizer, then a fixed text (ASCII, accents,
// emoji, digits, a special-token spelling) encoded and decoded with what was loaded.
#include "fuzz/fuzz_input.h"
#include "fuzz/tokenizer_round_trip.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  csweep::fuzz::write_scratch("tokenizer.json", csweep::fuzz::as_text(data, size));
  csweep::fuzz::load_and_round_trip();
  return 0;
}
