#include "model/tokenizer/utf8.h"

#include <algorithm>
#include <cstdint>

namespace csweep::model::tokenizer {
namespace {

// Length of the well-formed sequence starting at s[i], or 0 if there is none
// (Unicode Table 3-7).
size_t sequence_length(std::string_view s, size_t i) {
  auto at = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
  unsigned char c = at(i);
  if (c < 0x80) return 1;
  size_t len;
  unsigned char lo = 0x80, hi = 0xBF;
  if (c >= 0xC2 && c <= 0xDF) {
    len = 2;
  } else if (c >= 0xE0 && c <= 0xEF) {
    len = 3;
    if (c == 0xE0) lo = 0xA0;
    if (c == 0xED) hi = 0x9F;
  } else if (c >= 0xF0 && c <= 0xF4) {
    len = 4;
    if (c == 0xF0) lo = 0x90;
    if (c == 0xF4) hi = 0x8F;
  } else {
    return 0;
  }
  if (i + len > s.size()) return 0;
  if (at(i + 1) < lo || at(i + 1) > hi) return 0;
  for (size_t k = 2; k < len; ++k)
    if ((at(i + k) & 0xC0) != 0x80) return 0;
  return len;
}

}  // namespace

std::optional<size_t> first_invalid_utf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    if (static_cast<unsigned char>(s[i]) < 0x80) {
      ++i;
      continue;
    }
    size_t len = sequence_length(s, i);
    if (len == 0) return i;
    i += len;
  }
  return std::nullopt;
}

namespace {
// s with its well-formed sequences kept and each ill-formed part rewritten by `bad`, which
// appends its replacement for the part starting at s[i] and returns the bytes it consumed.
template <class Bad>
std::string rewrite_invalid(std::string_view s, Bad bad) {
  std::string out;
  out.reserve(s.size());
  size_t i = 0;
  while (i < s.size()) {
    const size_t len = sequence_length(s, i);
    if (len > 0) {
      out.append(s.substr(i, len));
      i += len;
    } else {
      i += bad(s, i, out);
    }
  }
  return out;
}
}  // namespace

std::string to_valid_utf8(std::string_view s) {
  return rewrite_invalid(s, [](std::string_view t, size_t i, std::string& out) {
    out += "\xEF\xBF\xBD";
    size_t n = 1;
    while (i + n < t.size() && (static_cast<unsigned char>(t[i + n]) & 0xC0) == 0x80) ++n;
    return n;
  });
}

std::string escape_invalid_utf8(std::string_view s) {
  return rewrite_invalid(s, [](std::string_view t, size_t i, std::string& out) {
    static const char* hex = "0123456789ABCDEF";
    const auto b = static_cast<unsigned char>(t[i]);
    out += "<0x";
    out += hex[b >> 4];
    out += hex[b & 15];
    out += '>';
    return size_t{1};
  });
}

std::vector<std::string_view> utf8_chars(std::string_view s) {
  std::vector<std::string_view> out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size();) {
    const size_t len = std::max<size_t>(sequence_length(s, i), 1);
    out.push_back(s.substr(i, len));
    i += len;
  }
  return out;
}

}  // namespace csweep::model::tokenizer
