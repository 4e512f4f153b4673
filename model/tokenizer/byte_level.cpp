#include "model/tokenizer/byte_level.h"

#include <cstdint>

namespace csweep::model::tokenizer {
namespace {

std::string utf8(uint32_t cp) {
  std::string s;
  if (cp < 0x80) {
    s += static_cast<char>(cp);
  } else {  // the alphabet stays below U+0800: two bytes at most
    s += static_cast<char>(0xC0 | (cp >> 6));
    s += static_cast<char>(0x80 | (cp & 0x3F));
  }
  return s;
}

// Code point for each byte, as in openai/gpt-2 encoder.py: printable Latin-1 bytes map to
// themselves, the others to 256, 257, ... in byte order.
std::array<uint32_t, 256> code_points() {
  std::array<uint32_t, 256> cps{};
  uint32_t next = 256;
  for (uint32_t b = 0; b < 256; ++b) {
    bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
    cps[b] = printable ? b : next++;
  }
  return cps;
}

// Code point (< 0x144) → byte, or -1.
std::array<int, 0x200> inverse_table() {
  std::array<int, 0x200> inv;
  inv.fill(-1);
  auto cps = code_points();
  for (int b = 0; b < 256; ++b) inv[cps[b]] = b;
  return inv;
}

}  // namespace

const std::array<std::string, 256>& byte_to_unicode() {
  static const std::array<std::string, 256> table = [] {
    std::array<std::string, 256> t;
    auto cps = code_points();
    for (int b = 0; b < 256; ++b) t[b] = utf8(cps[b]);
    return t;
  }();
  return table;
}

std::optional<std::string> unicode_to_bytes(std::string_view s) {
  static const std::array<int, 0x200> inverse = inverse_table();
  std::string out;
  out.reserve(s.size());
  size_t i = 0;
  while (i < s.size()) {
    auto c = static_cast<unsigned char>(s[i]);
    uint32_t cp;
    if (c < 0x80) {
      cp = c;
      i += 1;
    } else if ((c & 0xE0) == 0xC0 && i + 1 < s.size() &&
               (static_cast<unsigned char>(s[i + 1]) & 0xC0) == 0x80) {
      cp = ((c & 0x1Fu) << 6) | (static_cast<unsigned char>(s[i + 1]) & 0x3Fu);
      i += 2;
    } else {
      return std::nullopt;
    }
    if (cp >= inverse.size() || inverse[cp] < 0) return std::nullopt;
    out += static_cast<char>(inverse[cp]);
  }
  return out;
}

std::string bytes_to_unicode_string(std::string_view bytes) {
  const auto& table = byte_to_unicode();
  std::string out;
  out.reserve(bytes.size() * 2);
  for (char c : bytes) out += table[static_cast<unsigned char>(c)];
  return out;
}

}  // namespace csweep::model::tokenizer
