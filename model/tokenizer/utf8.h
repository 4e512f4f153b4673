#pragma once
// Strict UTF-8 checks for tokenizer input and display.
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace csweep::model::tokenizer {

// Offset of the first byte that is not part of a well-formed UTF-8 sequence (overlongs,
// surrogates and code points above U+10FFFF count as ill-formed); nullopt if all is valid.
std::optional<size_t> first_invalid_utf8(std::string_view s);

// s with every ill-formed sequence replaced by U+FFFD (one per maximal bad subpart).
std::string to_valid_utf8(std::string_view s);

// s with every byte of an ill-formed sequence written as "<0xE2>" (the form Hugging Face's
// byte-fallback vocabularies use): valid UTF-8 that still shows which bytes a token holds.
std::string escape_invalid_utf8(std::string_view s);

// The characters of s, one well-formed sequence each (an ill-formed byte stands alone): the
// symbols a character-level BPE starts from, and the units Python's len() counts.
std::vector<std::string_view> utf8_chars(std::string_view s);

}  // namespace csweep::model::tokenizer
