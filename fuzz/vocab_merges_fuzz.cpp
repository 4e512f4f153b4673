// libFuzzer: vocab.json + merges.txt (the input split at the first kSeparator line; no
// separator: all vocab.json, empty merges.txt) through load_tokenizer, then a fixed text
// encoded and decoded.
#include "fuzz/fuzz_input.h"
#include "fuzz/tokenizer_round_trip.h"

namespace {
constexpr std::string_view kSeparator = "\n#### merges.txt ####\n";
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input = csweep::fuzz::as_text(data, size);
  const size_t cut = input.find(kSeparator);
  const std::string_view vocab = input.substr(0, cut);
  const std::string_view merges =
      cut == std::string_view::npos ? "" : input.substr(cut + kSeparator.size());
  std::filesystem::remove(csweep::fuzz::scratch_dir() / "tokenizer.json");
  csweep::fuzz::write_scratch("vocab.json", vocab);
  csweep::fuzz::write_scratch("merges.txt", merges);
  csweep::fuzz::load_and_round_trip();
  return 0;
}
