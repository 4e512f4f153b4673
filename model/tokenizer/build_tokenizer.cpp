#include "model/tokenizer/tokenizer_impl.h"

#include <cctype>
#include <limits>

#include "common/error.h"
#include "common/log.h"
#include "model/tokenizer/byte_level.h"
#include "model/tokenizer/utf8.h"

namespace csweep::model::tokenizer {
namespace {

int32_t id_or_throw(const TokenizerImpl& impl, const std::string& token, const std::string& file,
                    const std::string& where) {
  auto it = impl.ids.find(token);
  if (it == impl.ids.end())
    throw error_at(file, where, "token '" + token + "' is not in the vocabulary");
  return it->second;
}

// A character-level token's text: the decoder's replacements in order ("▁" -> " "); a byte
// fallback token "<0xNN>" is that byte.
std::string decoded_text(const BpeSpec& spec, const std::string& token, int* byte) {
  *byte = -1;
  if (spec.byte_fallback && token.size() == 6 && token.compare(0, 3, "<0x") == 0 &&
      token[5] == '>' && std::isxdigit(static_cast<unsigned char>(token[3])) &&
      std::isxdigit(static_cast<unsigned char>(token[4])) &&
      !std::islower(static_cast<unsigned char>(token[3])) &&
      !std::islower(static_cast<unsigned char>(token[4]))) {
    *byte = std::stoi(token.substr(3, 2), nullptr, 16);
    return std::string(1, static_cast<char>(*byte));
  }
  std::string text = token;
  for (const auto& [pattern, content] : spec.decode_replace) {
    std::string out;
    size_t from = 0;
    for (size_t at; (at = text.find(pattern, from)) != std::string::npos;
         from = at + pattern.size())
      out.append(text, from, at - from) += content;
    text = out.append(text, from, std::string::npos);
  }
  return text;
}

}  // namespace

std::unique_ptr<TokenizerImpl> build_tokenizer(BpeSpec spec) {
  auto impl = std::make_unique<TokenizerImpl>();
  impl->source = spec.file;
  const std::string file = spec.file.string();

  int64_t max_id = -1;
  for (auto& [token, id] : spec.vocab) {
    if (id < 0 || id >= std::numeric_limits<int32_t>::max())
      throw error_at(file, spec.vocab_field + "[\"" + token + "\"]",
                     "id " + std::to_string(id) + " out of range");
    max_id = std::max(max_id, id);
  }
  for (auto& t : spec.added) max_id = std::max<int64_t>(max_id, t.id);
  const size_t n = static_cast<size_t>(max_id + 1);
  impl->strings.resize(n);
  impl->bytes.resize(n);
  impl->present.assign(n, 0);
  impl->special.assign(n, 0);

  Alphabet alphabet;
  std::array<int32_t, 256>& byte_ids = alphabet.byte_ids;
  byte_ids.fill(-1);
  alphabet.characters = !spec.byte_level;
  alphabet.byte_fallback = spec.byte_fallback;
  alphabet.fuse_unk = spec.fuse_unk;
  std::unordered_map<std::string, int32_t> whole_tokens;
  for (auto& [token, id64] : spec.vocab) {
    auto id = static_cast<int32_t>(id64);
    if (impl->present[id] && impl->strings[id] != token)
      throw error_at(
          file, spec.vocab_field + "[\"" + token + "\"]",
          "id " + std::to_string(id) + " already belongs to '" + impl->strings[id] + "'");
    impl->present[id] = 1;
    impl->strings[id] = token;
    impl->ids[token] = id;
    if (!spec.byte_level) {
      int byte = -1;
      impl->bytes[id] = decoded_text(spec, token, &byte);
      if (byte >= 0) byte_ids[static_cast<size_t>(byte)] = id;
      if (utf8_chars(token).size() == 1) alphabet.chars.emplace(token, id);
      if (spec.ignore_merges) whole_tokens.emplace(token, id);
      continue;
    }
    // A vocabulary string outside the 256-character byte alphabet can only be produced by an
    // added token; it decodes to itself.
    auto raw = unicode_to_bytes(token);
    impl->bytes[id] = raw ? *raw : token;
    if (raw && raw->size() == 1) byte_ids[static_cast<unsigned char>((*raw)[0])] = id;
    if (raw && spec.ignore_merges) whole_tokens.emplace(*raw, id);
  }

  for (auto& t : spec.added) {
    if (t.id < 0) continue;
    if (impl->present[t.id] && impl->strings[t.id] != t.content)
      log::get("model")->warn("{}: added token '{}' replaces vocabulary entry '{}' at id {}", file,
                              t.content, impl->strings[t.id], t.id);
    impl->present[t.id] = 1;
    impl->strings[t.id] = t.content;
    // A character-level vocabulary's decoder reads added tokens too (Gemma's "▁▁" runs).
    int byte = -1;
    impl->bytes[t.id] = spec.byte_level ? t.content : decoded_text(spec, t.content, &byte);
    impl->ids[t.content] = t.id;
    impl->special[t.id] = t.special;
    impl->added.add(t);
  }

  std::vector<Merge> merges;
  merges.reserve(spec.merges.size());
  const std::string merges_file = spec.merges_file.empty() ? file : spec.merges_file.string();
  for (size_t r = 0; r < spec.merges.size(); ++r) {
    auto& [a, b] = spec.merges[r];
    const std::string& where = spec.merge_where[r];
    Merge m;
    m.left = id_or_throw(*impl, a, merges_file, where);
    m.right = id_or_throw(*impl, b, merges_file, where);
    m.merged = id_or_throw(*impl, a + b, merges_file, where);
    merges.push_back(m);
  }

  int32_t unk_id = -1;
  if (spec.unk_token) unk_id = id_or_throw(*impl, *spec.unk_token, file, "model.unk_token");
  impl->bpe = std::make_unique<Bpe>(std::move(alphabet), merges, std::move(whole_tokens),
                                    spec.ignore_merges, unk_id);
  impl->normalizer = std::move(spec.normalizer);
  impl->pre_tokenizer = std::move(spec.pre_tokenizer);

  auto resolve = [&](const std::optional<std::string>& content) -> std::optional<int64_t> {
    if (!content) return std::nullopt;
    auto it = impl->ids.find(*content);
    if (it == impl->ids.end()) return std::nullopt;
    return it->second;
  };
  impl->bos = resolve(spec.bos_token);
  impl->eos = resolve(spec.eos_token);
  log::get("model")->info("{}: {} tokens, {} merges, {} added", file, spec.vocab.size(),
                          merges.size(), spec.added.size());
  return impl;
}

}  // namespace csweep::model::tokenizer
