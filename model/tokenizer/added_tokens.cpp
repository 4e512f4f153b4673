#include "model/tokenizer/added_tokens.h"

#include <algorithm>
#include <cctype>

namespace csweep::model::tokenizer {
namespace {

bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}
// Non-ASCII bytes count as word characters: letters of most scripts are.
bool is_word(char c) {
  auto u = static_cast<unsigned char>(c);
  return u >= 0x80 || std::isalnum(u) || c == '_';
}

}  // namespace

void AddedTokens::add(AddedToken token) {
  if (token.content.empty()) return;
  for (auto& t : tokens_)
    if (t.content == token.content) {
      t = std::move(token);
      return;
    }
  tokens_.push_back(std::move(token));
  for (auto& bucket : by_first_byte_) bucket.clear();
  for (size_t i = 0; i < tokens_.size(); ++i)
    by_first_byte_[static_cast<unsigned char>(tokens_[i].content[0])].push_back(i);
  for (auto& bucket : by_first_byte_)
    std::stable_sort(bucket.begin(), bucket.end(), [&](size_t a, size_t b) {
      return tokens_[a].content.size() > tokens_[b].content.size();
    });
}

void AddedTokens::split(std::string_view text, std::vector<Segment>& out) const {
  out.clear();
  size_t segment_start = 0;
  size_t i = 0;
  while (i < text.size()) {
    const auto& bucket = by_first_byte_[static_cast<unsigned char>(text[i])];
    const AddedToken* found = nullptr;
    for (size_t idx : bucket) {
      const AddedToken& t = tokens_[idx];
      if (text.compare(i, t.content.size(), t.content) != 0) continue;
      if (t.single_word) {
        size_t end = i + t.content.size();
        if ((i > 0 && is_word(text[i - 1])) || (end < text.size() && is_word(text[end]))) continue;
      }
      found = &t;
      break;
    }
    if (!found) {
      ++i;
      continue;
    }
    size_t begin = i, end = i + found->content.size();
    if (found->lstrip)
      while (begin > segment_start && is_space(text[begin - 1])) --begin;
    if (found->rstrip)
      while (end < text.size() && is_space(text[end])) ++end;
    if (begin > segment_start)
      out.push_back({text.substr(segment_start, begin - segment_start), -1});
    out.push_back({text.substr(begin, end - begin), found->id});
    segment_start = i = end;
  }
  if (segment_start < text.size()) out.push_back({text.substr(segment_start), -1});
}

}  // namespace csweep::model::tokenizer
