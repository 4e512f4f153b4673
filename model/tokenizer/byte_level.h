#pragma once
// GPT-2's bytes_to_unicode(): every byte maps to one printable Unicode character, so a
// byte-level BPE vocabulary can be stored as JSON strings ("Ġ" is the space byte 0x20).
#include <array>
#include <optional>
#include <string>
#include <string_view>

namespace csweep::model::tokenizer {

// UTF-8 of the character that stands for each byte.
const std::array<std::string, 256>& byte_to_unicode();

// Inverse: a byte-level string back to raw bytes; nullopt if a character is not in the
// 256-character alphabet (e.g. an added token's literal text).
std::optional<std::string> unicode_to_bytes(std::string_view byte_level);

// Raw bytes → byte-level string.
std::string bytes_to_unicode_string(std::string_view bytes);

}  // namespace csweep::model::tokenizer
