#include "model/tokenizer/pre_tokenizer.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <algorithm>
#include <tuple>

#include "common/error.h"

namespace csweep::model::tokenizer {

const char* const kGpt2Pattern =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";

namespace {
pcre2_code* as_code(void* p) { return static_cast<pcre2_code*>(p); }
}  // namespace

Regex::Regex(const std::string& pattern, bool literal, const std::string& where) : where_(where) {
  int error = 0;
  PCRE2_SIZE offset = 0;
  uint32_t options =
      literal ? (PCRE2_UTF | PCRE2_LITERAL) : (PCRE2_UTF | PCRE2_UCP);  // LITERAL refuses UCP
  pcre2_code* code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(),
                                   options, &error, &offset, nullptr);
  if (!code) {
    PCRE2_UCHAR message[256];
    pcre2_get_error_message(error, message, sizeof message);
    throw error_at(where, "",
                   "invalid regex at offset " + std::to_string(offset) + ": " +
                       reinterpret_cast<const char*>(message));
  }
  code_ = code;
  jit_ = pcre2_jit_compile(code, PCRE2_JIT_COMPLETE) == 0;
}

Regex::~Regex() { pcre2_code_free(as_code(code_)); }

std::vector<std::pair<size_t, size_t>> Regex::matches(std::string_view subject) const {
  std::vector<std::pair<size_t, size_t>> found;
  pcre2_code* code = as_code(code_);
  pcre2_match_data* data = pcre2_match_data_create_from_pattern(code, nullptr);
  auto subject_ptr = reinterpret_cast<PCRE2_SPTR>(subject.data());
  size_t start = 0;
  while (start < subject.size()) {
    int rc = -1;
    if (jit_) rc = pcre2_jit_match(code, subject_ptr, subject.size(), start, 0, data, nullptr);
    // The JIT's small default stack can run out on very long whitespace runs; the
    // interpreter has no such limit.
    if (!jit_ || rc == PCRE2_ERROR_JIT_STACKLIMIT)
      rc = pcre2_match(code, subject_ptr, subject.size(), start, PCRE2_NO_UTF_CHECK | PCRE2_NO_JIT,
                       data, nullptr);
    if (rc == PCRE2_ERROR_NOMATCH) break;
    if (rc < 0) {
      pcre2_match_data_free(data);
      PCRE2_UCHAR message[256];
      pcre2_get_error_message(rc, message, sizeof message);
      throw error_at(where_, "",
                     std::string("regex match failed: ") + reinterpret_cast<const char*>(message));
    }
    PCRE2_SIZE* ov = pcre2_get_ovector_pointer(data);
    size_t b = ov[0], e = ov[1];
    if (e > b) {
      found.emplace_back(b, e);
      start = e;
    } else {  // empty match: step over one UTF-8 character
      start = b + 1;
      while (start < subject.size() && (static_cast<unsigned char>(subject[start]) & 0xC0) == 0x80)
        ++start;
    }
  }
  pcre2_match_data_free(data);
  return found;
}

namespace {

// One step over one piece, following Hugging Face's NormalizedString::split.
void split_piece(const PreTokenizerStep& step, std::string_view piece,
                 std::vector<std::string>& out) {
  if (!step.regex) {
    out.emplace_back(piece);
    return;
  }
  // (begin, end, is_delimiter) covering the whole piece.
  std::vector<std::tuple<size_t, size_t, bool>> parts;
  size_t last = 0;
  for (auto [b, e] : step.regex->matches(piece)) {
    if (b > last) parts.emplace_back(last, b, false);
    parts.emplace_back(b, e, true);
    last = e;
  }
  if (last < piece.size()) parts.emplace_back(last, piece.size(), false);
  if (step.invert)
    for (auto& p : parts) std::get<2>(p) = !std::get<2>(p);

  std::vector<std::pair<size_t, size_t>> pieces;
  bool prev_was_delim = false;
  for (auto [b, e, delim] : parts) {
    switch (step.behavior) {
      case SplitBehavior::Removed:
        if (!delim) pieces.emplace_back(b, e);
        break;
      case SplitBehavior::Isolated:
        pieces.emplace_back(b, e);
        break;
      case SplitBehavior::MergedWithPrevious:
        if (delim && !pieces.empty() && !prev_was_delim)
          pieces.back().second = e;
        else
          pieces.emplace_back(b, e);
        break;
      case SplitBehavior::MergedWithNext:
        break;  // handled below, from the right
      case SplitBehavior::Contiguous:
        if (delim && prev_was_delim)
          pieces.back().second = e;
        else
          pieces.emplace_back(b, e);
        break;
    }
    prev_was_delim = delim;
  }
  if (step.behavior == SplitBehavior::MergedWithNext) {
    // As Hugging Face does it: from the right, a delimiter joins the piece after it unless
    // that piece is itself a delimiter.
    bool next_was_delim = false;
    for (auto it = parts.rbegin(); it != parts.rend(); ++it) {
      auto [b, e, delim] = *it;
      if (delim && !next_was_delim && !pieces.empty())
        pieces.back().first = b;
      else
        pieces.emplace_back(b, e);
      next_was_delim = delim;
    }
    std::reverse(pieces.begin(), pieces.end());
  }
  for (auto [b, e] : pieces)
    if (e > b) out.emplace_back(piece.substr(b, e - b));
}

}  // namespace

void PreTokenizer::split(std::string_view text, std::vector<std::string>& pieces) const {
  pieces.clear();
  pieces.emplace_back(text);
  std::vector<std::string> next;
  for (const auto& step : steps_) {
    next.clear();
    for (auto& piece : pieces) {
      if (step.add_prefix_space && (piece.empty() || piece[0] != ' '))
        piece.insert(piece.begin(), ' ');
      split_piece(step, piece, next);
    }
    pieces.swap(next);
  }
}

}  // namespace csweep::model::tokenizer
