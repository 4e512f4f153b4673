#include "model/gguf/gguf_tokenizer.h"

#include <algorithm>
#include <map>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/error.h"
#include "model/tokenizer/utf8.h"

namespace csweep::model::gguf {
namespace {

using nlohmann::ordered_json;

// llama.cpp's token types (llama_token_type).
enum TokenType : int64_t {
  kNormal = 1,
  kUnknown = 2,
  kControl = 3,
  kUserDefined = 4,
  kUnused = 5,
  kByte = 6
};

// Hugging Face's Llama 3 and Qwen2 split regexes (as their tokenizer.json files carry them);
// llama.cpp's "llama-bpe" and "qwen2" regex lists are these same patterns.
constexpr const char* kLlama3Split =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| "
    "?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|"
    "\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
constexpr const char* kQwen2Split =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| "
    "?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|"
    "\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

ordered_json byte_level(bool use_regex) {
  return {{"type", "ByteLevel"},
          {"add_prefix_space", false},
          {"trim_offsets", true},
          {"use_regex", use_regex}};
}

ordered_json split(const char* regex) {
  return {{"type", "Split"},
          {"pattern", {{"Regex", regex}}},
          {"behavior", "Isolated"},
          {"invert", false}};
}

struct PreTokenizer {
  ordered_json normalizer;
  ordered_json pre_tokenizer;
};

// tokenizer.ggml.pre -> the Hugging Face normalizer and pre-tokenizer.
PreTokenizer pre_tokenizer_for(const GgufFile& f, const std::string& pre) {
  // GPT-2's regex alone.
  if (pre == "gpt-2" || pre == "gpt2") return {nullptr, byte_level(true)};
  // Each digit on its own, then GPT-2's regex (SmolLM/SmolLM2, StarCoder: llama.cpp's "\p{N}"
  // split followed by the GPT-2 pattern).
  if (pre == "smollm" || pre == "starcoder" || pre == "refact" || pre == "codeshell")
    return {
        nullptr,
        {{"type", "Sequence"},
         {"pretokenizers", {{{"type", "Digits"}, {"individual_digits", true}}, byte_level(true)}}}};
  if (pre == "llama-bpe" || pre == "llama3")
    return {nullptr,
            {{"type", "Sequence"}, {"pretokenizers", {split(kLlama3Split), byte_level(false)}}}};
  if (pre == "qwen2")
    return {{{"type", "NFC"}},
            {{"type", "Sequence"}, {"pretokenizers", {split(kQwen2Split), byte_level(false)}}}};
  throw error_at(f.path().string(), "metadata 'tokenizer.ggml.pre'",
                 "pre-tokenizer '" + pre +
                     "' is not supported (supported: gpt-2, smollm, starcoder, refact, "
                     "codeshell, llama-bpe, qwen2)");
}

// The code point of one well-formed UTF-8 character.
uint32_t code_point(std::string_view c) {
  const auto b = [&](size_t k) { return static_cast<uint32_t>(static_cast<unsigned char>(c[k])); };
  if (c.size() == 1) return b(0);
  uint32_t cp = b(0) & (0x7Fu >> c.size());
  for (size_t k = 1; k < c.size(); ++k) cp = (cp << 6) | (b(k) & 0x3F);
  return cp;
}

// Python's str.isspace, which transformers' Gemma respelling below relies on.
bool python_space(std::string_view c) {
  const uint32_t cp = code_point(c);
  return (cp >= 0x09 && cp <= 0x0D) || (cp >= 0x1C && cp <= 0x20) || cp == 0x85 || cp == 0xA0 ||
         cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 ||
         cp == 0x202F || cp == 0x205F || cp == 0x3000;
}

// Gemma's GGUF files store a token of spaces as real spaces ("  "); its tokenizer spells them
// "▁▁" (transformers' gguf_tokenizer_mapping.gemma_tokenizer: a token holding a space and
// nothing but whitespace becomes one "▁" per character).
std::string gemma_spelling(const std::string& token) {
  const auto chars = tokenizer::utf8_chars(token);
  if (token.find(' ') == std::string::npos ||
      !std::all_of(chars.begin(), chars.end(), python_space))
    return token;
  std::string out;
  for (size_t i = 0; i < chars.size(); ++i) out += "\u2581";
  return out;
}

// Gemma's GGUF files carry no merges, and their scores do not follow the merge order: the
// merges are every split of a token into two tokens, token by token in file order, longer left
// part first (transformers' generate_merges with the negated positions as scores, which is
// what AutoTokenizer.from_pretrained(gguf_file=...) builds).
ordered_json gemma_merges(const std::vector<std::string>& tokens,
                          const std::unordered_map<std::string, size_t>& index) {
  ordered_json merges = ordered_json::array();
  for (const std::string& token : tokens) {
    const auto chars = tokenizer::utf8_chars(token);
    size_t cut = token.size();  // bytes of the left part, walking from the longest
    for (size_t k = chars.size(); k-- > 1;) {
      cut -= chars[k].size();
      std::string left = token.substr(0, cut), right = token.substr(cut);
      if (index.count(left) && index.count(right)) merges.push_back({left, right});
    }
  }
  return merges;
}

std::optional<std::string> token_at(const GgufFile& f, const std::vector<Value>& tokens,
                                    const char* key) {
  auto id = f.get_uint_or_none(key);
  if (!id) return std::nullopt;
  if (*id >= tokens.size())
    throw error_at(f.path().string(), std::string("metadata '") + key + "'",
                   "id " + std::to_string(*id) + " is outside the vocabulary (" +
                       std::to_string(tokens.size()) + " tokens)");
  return tokens[*id].s;
}

}  // namespace

HfTokenizerFiles make_hf_tokenizer(const GgufFile& f, int64_t model_max_length) {
  const std::string file = f.path().string();
  const std::string model = f.get_string("tokenizer.ggml.model");
  // SentencePiece vocabularies: Gemma's, rebuilt as transformers' GemmaTokenizer (BPE with byte
  // fallback over the whole text, spaces as "▁"). Llama 2-style ones (a "▁" prefix) are not.
  const bool gemma = model == "llama" && f.get_string("general.architecture") == "gemma3";
  if (model != "gpt2" && !gemma)
    throw error_at(file, "metadata 'tokenizer.ggml.model'",
                   "'" + model +
                       "' vocabularies are not supported (byte-level BPE, 'gpt2'; SentencePiece "
                       "'llama' only for gemma3)");
  PreTokenizer pre;
  if (gemma) {
    pre = {{{"type", "Replace"}, {"pattern", {{"String", " "}}}, {"content", "\u2581"}},
           {{"type", "Split"},
            {"pattern", {{"String", " "}}},
            {"behavior", "MergedWithPrevious"},
            {"invert", false}}};
  } else {
    auto pre_name = f.get_string_or_none("tokenizer.ggml.pre");
    if (!pre_name)
      throw error_at(file, "metadata 'tokenizer.ggml.pre'",
                     "missing: the pre-tokenizer cannot be known");
    pre = pre_tokenizer_for(f, *pre_name);
  }

  const auto& tokens = f.get_array("tokenizer.ggml.tokens", ValueType::STRING);
  std::vector<int64_t> types(tokens.size(), kNormal);
  if (f.has("tokenizer.ggml.token_type")) {
    const auto& t = f.get_array("tokenizer.ggml.token_type", ValueType::I32);
    if (t.size() != tokens.size())
      throw error_at(
          file, "metadata 'tokenizer.ggml.token_type'",
          std::to_string(t.size()) + " entries for " + std::to_string(tokens.size()) + " tokens");
    for (size_t i = 0; i < t.size(); ++i) types[i] = t[i].i != 0 ? t[i].i : int64_t(t[i].u);
  }

  ordered_json vocab = ordered_json::object();
  // Appended in id order without ordered_json's linear key search (ids are checked unique
  // through `seen`): a 262,144-token vocabulary would otherwise take minutes.
  auto& vocab_entries = vocab.get_ref<ordered_json::object_t&>();
  vocab_entries.reserve(tokens.size());
  ordered_json added = ordered_json::array();
  ordered_json added_decoder = ordered_json::object();
  std::vector<std::string> spelled;
  if (gemma) spelled.reserve(tokens.size());
  std::unordered_map<std::string, size_t> seen;
  for (size_t id = 0; id < tokens.size(); ++id) {
    const std::string& s =
        gemma ? spelled.emplace_back(gemma_spelling(tokens[id].s)) : tokens[id].s;
    if (types[id] == kByte && !gemma)
      throw error_at(file, "metadata 'tokenizer.ggml.token_type'",
                     "byte tokens (<0xNN>, SentencePiece byte fallback) are not supported in a "
                     "byte-level BPE vocabulary");
    if (auto [it, fresh] = seen.emplace(s, id); !fresh)
      throw error_at(file, "metadata 'tokenizer.ggml.tokens'",
                     "token '" + s + "' appears at ids " + std::to_string(it->second) + " and " +
                         std::to_string(id));
    vocab_entries.emplace_back(s, id);
    if (types[id] == kControl || types[id] == kUserDefined || types[id] == kUnknown) {
      const bool special = types[id] != kUserDefined;
      // transformers adds a Gemma file's user-defined tokens ("\n\n", tab runs) unnormalised.
      ordered_json t = {{"id", id},          {"content", s},    {"single_word", false},
                        {"lstrip", false},   {"rstrip", false}, {"normalized", !special && !gemma},
                        {"special", special}};
      added.push_back(t);
      t.erase("id");
      added_decoder[std::to_string(id)] = t;
    }
  }

  ordered_json merges = ordered_json::array();
  if (gemma && !f.has("tokenizer.ggml.merges")) {
    merges = gemma_merges(spelled, seen);
  } else if (f.has("tokenizer.ggml.merges")) {
    const auto& m = f.get_array("tokenizer.ggml.merges", ValueType::STRING);
    for (size_t i = 0; i < m.size(); ++i) {
      const std::string& s = m[i].s;
      size_t space = s.find(' ');
      if (space == std::string::npos || space == 0 || space + 1 == s.size() ||
          s.find(' ', space + 1) != std::string::npos)
        throw error_at(
            file, "metadata 'tokenizer.ggml.merges'",
            "entry " + std::to_string(i) + " '" + s + "' is not two tokens separated by one space");
      merges.push_back({s.substr(0, space), s.substr(space + 1)});
    }
  }

  const bool add_bos = f.get_bool_or_none("tokenizer.ggml.add_bos_token").value_or(false);
  const auto bos = token_at(f, tokens, "tokenizer.ggml.bos_token_id");
  const auto eos = token_at(f, tokens, "tokenizer.ggml.eos_token_id");
  const auto unk = token_at(f, tokens, "tokenizer.ggml.unknown_token_id");
  const auto pad = token_at(f, tokens, "tokenizer.ggml.padding_token_id");

  ordered_json post;
  if (add_bos) {
    if (!bos)
      throw error_at(file, "metadata 'tokenizer.ggml.add_bos_token'",
                     "true, but no bos_token_id is given");
    const int64_t bos_id = int64_t(*f.get_uint_or_none("tokenizer.ggml.bos_token_id"));
    ordered_json bos_item = {{"SpecialToken", {{"id", *bos}, {"type_id", 0}}}};
    post = {{"type", "TemplateProcessing"},
            {"single", {bos_item, {{"Sequence", {{"id", "A"}, {"type_id", 0}}}}}},
            {"pair",
             {bos_item,
              {{"Sequence", {{"id", "A"}, {"type_id", 0}}}},
              bos_item,
              {{"Sequence", {{"id", "B"}, {"type_id", 1}}}}}},
            {"special_tokens", {{*bos, {{"id", *bos}, {"ids", {bos_id}}, {"tokens", {*bos}}}}}}};
  } else {
    post = {{"type", "ByteLevel"},
            {"add_prefix_space", true},
            {"trim_offsets", false},
            {"use_regex", true}};
  }

  HfTokenizerFiles out;
  ordered_json& j = out.tokenizer_json;
  j["version"] = "1.0";
  j["truncation"] = nullptr;
  j["padding"] = nullptr;
  j["added_tokens"] = added;
  j["normalizer"] = pre.normalizer;
  j["pre_tokenizer"] = pre.pre_tokenizer;
  j["post_processor"] = post;
  if (gemma)
    j["decoder"] = {{"type", "Sequence"},
                    {"decoders",
                     {{{"type", "Replace"}, {"pattern", {{"String", "\u2581"}}}, {"content", " "}},
                      {{"type", "ByteFallback"}},
                      {{"type", "Fuse"}}}}};
  else
    j["decoder"] = {{"type", "ByteLevel"},
                    {"add_prefix_space", true},
                    {"trim_offsets", true},
                    {"use_regex", true}};
  j["model"] = {{"type", "BPE"},
                {"dropout", nullptr},
                {"unk_token", gemma && unk ? ordered_json(*unk) : ordered_json(nullptr)},
                {"continuing_subword_prefix", nullptr},
                {"end_of_word_suffix", nullptr},
                {"fuse_unk", gemma},
                {"byte_fallback", gemma},
                {"ignore_merges", false},
                {"vocab", vocab},
                {"merges", merges}};

  ordered_json& c = out.tokenizer_config;
  c["tokenizer_class"] = "PreTrainedTokenizerFast";
  c["model_max_length"] = model_max_length;
  c["clean_up_tokenization_spaces"] = false;
  if (bos) c["bos_token"] = *bos;
  if (eos) c["eos_token"] = *eos;
  if (unk) c["unk_token"] = *unk;
  if (pad) c["pad_token"] = *pad;
  if (auto tmpl = f.get_string_or_none("tokenizer.chat_template")) c["chat_template"] = *tmpl;
  c["added_tokens_decoder"] = added_decoder;
  return out;
}

}  // namespace csweep::model::gguf
