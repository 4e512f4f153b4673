#include "model/tokenizer/tokenizer.h"

#include <cstdio>

#include "common/error.h"
#include "model/tokenizer/tokenizer_impl.h"
#include "model/tokenizer/utf8.h"

namespace csweep::model {

Tokenizer::Tokenizer(std::unique_ptr<TokenizerImpl> impl) : impl_(std::move(impl)) {}
Tokenizer::~Tokenizer() = default;

std::vector<int64_t> Tokenizer::encode(const std::string& text) const {
  const std::string file = impl_->source.string();
  if (auto bad = tokenizer::first_invalid_utf8(text))
    throw error_at(file, "text", "not valid UTF-8 at byte " + std::to_string(*bad));
  std::vector<int64_t> ids;
  ids.reserve(text.size() / 3 + 1);
  std::vector<tokenizer::Segment> segments;
  std::vector<std::string> pieces;
  impl_->added.split(text, segments);
  for (const auto& segment : segments) {
    if (segment.id >= 0) {
      ids.push_back(segment.id);
      continue;
    }
    if (impl_->normalizer.empty()) {
      impl_->pre_tokenizer.split(segment.text, pieces);
    } else {
      impl_->pre_tokenizer.split(impl_->normalizer.apply(segment.text), pieces);
    }
    for (const auto& piece : pieces) {
      if (impl_->bpe->encode_word(piece, ids)) continue;
      for (char c : piece) {  // find the byte to name it
        char hex[8];
        std::snprintf(hex, sizeof hex, "0x%02X", static_cast<unsigned char>(c));
        std::vector<int64_t> probe;
        if (!impl_->bpe->encode_word(std::string(1, c), probe))
          throw error_at(file, "model.vocab",
                         std::string("no token for byte ") + hex + " and no unk_token");
      }
      throw error_at(file, "model.vocab", "cannot encode '" + piece + "'");
    }
  }
  return ids;
}

std::string Tokenizer::decode(const std::vector<int64_t>& ids) const {
  std::string text;
  for (int64_t id : ids) {
    if (id < 0 || id >= vocab_size() || !impl_->present[id])
      throw error_at(impl_->source.string(), "decode",
                     "token id " + std::to_string(id) + " is not in the vocabulary");
    text += impl_->bytes[id];
  }
  return text;
}

std::string Tokenizer::token_string(int64_t id) const {
  if (id < 0 || id >= vocab_size() || !impl_->present[id])
    throw error_at(impl_->source.string(), "token",
                   "token id " + std::to_string(id) + " is not in the vocabulary");
  return impl_->strings[id];
}

std::string Tokenizer::token_text(int64_t id) const {
  return tokenizer::escape_invalid_utf8(decode({id}));
}

std::optional<int64_t> Tokenizer::token_id(const std::string& token_string) const {
  auto it = impl_->ids.find(token_string);
  if (it == impl_->ids.end()) return std::nullopt;
  return it->second;
}

int64_t Tokenizer::vocab_size() const { return static_cast<int64_t>(impl_->strings.size()); }
bool Tokenizer::is_special(int64_t id) const {
  return id >= 0 && id < vocab_size() && impl_->special[id];
}
std::optional<int64_t> Tokenizer::bos_id() const { return impl_->bos; }
std::optional<int64_t> Tokenizer::eos_id() const { return impl_->eos; }
const std::filesystem::path& Tokenizer::source() const { return impl_->source; }

bool has_tokenizer(const std::filesystem::path& dir) {
  return std::filesystem::is_regular_file(dir / "tokenizer.json") ||
         (std::filesystem::is_regular_file(dir / "vocab.json") &&
          std::filesystem::is_regular_file(dir / "merges.txt"));
}

std::shared_ptr<Tokenizer> load_tokenizer(const std::filesystem::path& dir) {
  if (!std::filesystem::is_directory(dir)) throw error_at(dir.string(), "", "not a directory");
  tokenizer::BpeSpec spec;
  if (std::filesystem::is_regular_file(dir / "tokenizer.json")) {
    spec = tokenizer::read_tokenizer_json(dir);
  } else if (std::filesystem::is_regular_file(dir / "vocab.json")) {
    if (!std::filesystem::is_regular_file(dir / "merges.txt"))
      throw error_at((dir / "merges.txt").string(), "",
                     "missing (vocab.json needs merges.txt beside it)");
    spec = tokenizer::read_vocab_and_merges(dir);
  } else {
    throw error_at(dir.string(), "",
                   "no tokenizer: expected tokenizer.json, or vocab.json and merges.txt");
  }
  return std::make_shared<Tokenizer>(tokenizer::build_tokenizer(std::move(spec)));
}

}  // namespace csweep::model
