#pragma once
// Byte-level BPE tokenizer (GPT-2, Pythia/NeoX, Llama 3, Qwen2/3) read from a Hugging Face
// checkpoint folder: tokenizer.json, or vocab.json + merges.txt. Torch-free.
//
// encode() never adds BOS/EOS by itself: callers that want TransformerLens's prepend_bos
// behaviour put bos_id() in front. Added tokens (special or not) are matched verbatim in
// the text before pre-tokenisation, as Hugging Face tokenizers does.
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace csweep::model {

class TokenizerImpl;

class Tokenizer {
 public:
  explicit Tokenizer(std::unique_ptr<TokenizerImpl> impl);
  ~Tokenizer();
  Tokenizer(const Tokenizer&) = delete;
  Tokenizer& operator=(const Tokenizer&) = delete;

  // UTF-8 text → token ids. Thread-safe. Throws csweep::Error if the text holds a byte the
  // vocabulary cannot represent (only possible with a vocabulary lacking single-byte tokens).
  std::vector<int64_t> encode(const std::string& text) const;

  // ids → text (byte-level inverse; added tokens as their literal content). The result is the
  // raw bytes: a partial multi-byte character stays as is, so decode(encode(x)) == x exactly.
  // Throws csweep::Error on an id outside [0, vocab_size()).
  std::string decode(const std::vector<int64_t>& ids) const;

  // The vocabulary string of one id as Hugging Face's convert_ids_to_tokens gives it
  // ("Ġthe", "<|endoftext|>").
  std::string token_string(int64_t id) const;
  // The text one id decodes to (" the"), as TransformerLens's to_str_tokens shows it, but
  // never U+FFFD: a byte that is no whole UTF-8 character on its own is written "<0xE2>".
  // Always valid UTF-8: the display form for reports, `csweep tokenize` and `forward`.
  std::string token_text(int64_t id) const;

  // The id of a vocabulary string ("Ġthe", "<|endoftext|>"), if any.
  std::optional<int64_t> token_id(const std::string& token_string) const;

  // One more than the largest id (added tokens included).
  int64_t vocab_size() const;
  bool is_special(int64_t id) const;
  std::optional<int64_t> bos_id() const;  // from tokenizer_config.json / the post-processor
  std::optional<int64_t> eos_id() const;

  // The file the vocabulary came from (tokenizer.json or vocab.json), for messages.
  const std::filesystem::path& source() const;

 private:
  std::unique_ptr<TokenizerImpl> impl_;
};

// True when DIR holds tokenizer.json, or vocab.json and merges.txt.
bool has_tokenizer(const std::filesystem::path& dir);

// Loads DIR/tokenizer.json when present, else DIR/vocab.json + DIR/merges.txt (plus the
// optional tokenizer_config.json / special_tokens_map.json / added_tokens.json for special
// tokens). Throws csweep::Error "FILE: FIELD: reason" on anything missing, malformed or
// unsupported (e.g. a SentencePiece/Metaspace tokenizer).
std::shared_ptr<Tokenizer> load_tokenizer(const std::filesystem::path& dir);

}  // namespace csweep::model
