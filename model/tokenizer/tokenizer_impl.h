#pragma once
// What a loaded tokenizer holds, and the one builder both file formats feed. Internal to
// model/tokenizer/.
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "model/tokenizer/added_tokens.h"
#include "model/tokenizer/bpe.h"
#include "model/tokenizer/normalizer.h"
#include "model/tokenizer/pre_tokenizer.h"

namespace csweep::model {

class TokenizerImpl {
 public:
  std::filesystem::path source;
  std::vector<std::string> strings;  // id → vocabulary string; empty for an unused id
  std::vector<std::string> bytes;    // id → the bytes it decodes to
  std::vector<uint8_t> present;      // id is in the vocabulary
  std::vector<uint8_t> special;
  std::unordered_map<std::string, int32_t> ids;  // vocabulary string → id
  std::unique_ptr<tokenizer::Bpe> bpe;
  tokenizer::AddedTokens added;
  tokenizer::Normalizer normalizer;
  tokenizer::PreTokenizer pre_tokenizer;
  std::optional<int64_t> bos, eos;
};

namespace tokenizer {

// Everything a BPE tokenizer is made of, as read from either file format: byte-level (GPT-2
// and its descendants), or character-level with byte fallback (SentencePiece-style: Gemma).
struct BpeSpec {
  std::filesystem::path file;                               // vocabulary file, for errors
  std::filesystem::path merges_file;                        // may equal file
  std::string vocab_field, merges_field;                    // "model.vocab" / "" ...
  std::vector<std::pair<std::string, int64_t>> vocab;       // vocabulary string → id
  std::vector<std::pair<std::string, std::string>> merges;  // in rank order
  std::vector<std::string> merge_where;  // per merge: "line 7", "model.merges[5]"
  std::vector<AddedToken> added;
  bool ignore_merges = false;
  bool byte_level = true;  // false: vocabulary strings are text, words start as characters
  bool byte_fallback = false, fuse_unk = false;
  // Character-level: the decoder's literal replacements ("▁" -> " "), applied to every token.
  std::vector<std::pair<std::string, std::string>> decode_replace;
  std::optional<std::string> unk_token;
  Normalizer normalizer;
  PreTokenizer pre_tokenizer;
  std::optional<std::string> bos_token, eos_token;  // contents, resolved to ids
};

std::unique_ptr<TokenizerImpl> build_tokenizer(BpeSpec spec);

// The two formats. Throw csweep::Error "FILE: FIELD: reason".
BpeSpec read_tokenizer_json(const std::filesystem::path& dir);
BpeSpec read_vocab_and_merges(const std::filesystem::path& dir);

// What tokenizer_config.json / special_tokens_map.json / added_tokens.json say, when present.
struct TokenizerConfig {
  std::vector<AddedToken> added;            // added_tokens_decoder and added_tokens.json
  std::vector<std::string> special_tokens;  // bos/eos/unk/pad and additional special tokens
  std::optional<std::string> bos, eos, unk;
  std::optional<bool> add_prefix_space;
  bool found = false;  // at least one of the files exists
};
TokenizerConfig read_tokenizer_config(const std::filesystem::path& dir);

}  // namespace tokenizer
}  // namespace csweep::model
