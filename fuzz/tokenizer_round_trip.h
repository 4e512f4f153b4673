#pragma once
// Shared by the two tokenizer fuzzers: load whatever tokenizer files scratch_dir() holds and,
// when they load, run a fixed text through encode/decode/token_text (a vocabulary that loads
// must never crash on text).
#include <string>
#include <vector>

#include "fuzz/fuzz_input.h"
#include "model/tokenizer/tokenizer.h"

namespace csweep::fuzz {

inline void load_and_round_trip() {
  static const std::string kText =
      "Hello world, the 12345 caf\xc3\xa9 \xf0\x9f\x98\x80 <|endoftext|>  \n\tx";
  expect_clean([] {
    auto tokenizer = csweep::model::load_tokenizer(scratch_dir());
    std::vector<int64_t> ids = tokenizer->encode(kText);
    for (int64_t id : ids) {
      if (id < 0 || id >= tokenizer->vocab_size()) __builtin_trap();
      tokenizer->token_text(id);
      tokenizer->token_string(id);
    }
    tokenizer->decode(ids);
  });
}

}  // namespace csweep::fuzz
