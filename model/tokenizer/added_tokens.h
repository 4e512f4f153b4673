#pragma once
// Added tokens (Hugging Face `added_tokens`: <|endoftext|>, <|begin_of_text|>, ...) are found
// verbatim in the text before any normalisation or pre-tokenisation, leftmost-longest.
#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace csweep::model::tokenizer {

struct AddedToken {
  int32_t id = -1;
  std::string content;
  bool special = false;
  bool lstrip = false;       // swallow whitespace on the left
  bool rstrip = false;       // swallow whitespace on the right
  bool single_word = false;  // only when not glued to a word character
};

struct Segment {
  std::string_view text;  // plain text to tokenise, when id < 0
  int32_t id = -1;        // an added token
};

class AddedTokens {
 public:
  void add(AddedToken token);  // a repeated content keeps its last id
  const std::vector<AddedToken>& tokens() const { return tokens_; }
  void split(std::string_view text, std::vector<Segment>& out) const;

 private:
  std::vector<AddedToken> tokens_;
  std::array<std::vector<size_t>, 256> by_first_byte_;  // indices, longest content first
};

}  // namespace csweep::model::tokenizer
