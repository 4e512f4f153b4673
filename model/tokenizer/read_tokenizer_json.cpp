// Hugging Face tokenizers' single-file format. Supported: model BPE, byte-level (a ByteLevel
// pre-tokenizer) or character-level with byte fallback and a SentencePiece-style decoder
// (Replace, ByteFallback, Fuse: Gemma); normalizers NFC/NFD/NFKC/NFKD and literal Replace (and
// Sequence of them); pre-tokenizers ByteLevel, Split, Digits and Sequence; anything else is
// refused by name rather than tokenised differently.
#include "common/error.h"
#include "model/tokenizer/json_fields.h"
#include "model/tokenizer/tokenizer_impl.h"

namespace csweep::model::tokenizer {

using nlohmann::json;

namespace {

struct Reader {
  std::string file;
  BpeSpec& spec;
  bool saw_byte_level = false;

  [[noreturn]] void unsupported(const std::string& field, const std::string& what) const {
    throw error_at(file, field,
                   what +
                       " is not supported (only BPE tokenizers, byte-level or with byte "
                       "fallback, are)");
  }

  void model(const json& m) {
    const std::string field = "model";
    if (const json* type = optional_member(m, "type", file, field))
      if (*type != "BPE")
        unsupported("model.type",
                    "'" + (type->is_string() ? type->get<std::string>() : type->dump()) + "'");
    spec.byte_fallback = bool_member(m, "byte_fallback", false, file, field);
    spec.fuse_unk = bool_member(m, "fuse_unk", false, file, field);
    for (const char* key : {"continuing_subword_prefix", "end_of_word_suffix"})
      if (const json* v = optional_member(m, key, file, field))
        if (!v->is_string() || !v->get<std::string>().empty())
          unsupported(join_field(field, key), v->dump());
    spec.ignore_merges = bool_member(m, "ignore_merges", false, file, field);
    if (const json* unk = optional_member(m, "unk_token", file, field)) {
      if (!unk->is_string()) throw error_at(file, "model.unk_token", "expected a string");
      spec.unk_token = unk->get<std::string>();
    }
    const json& vocab = required_member(m, "vocab", file, field);
    if (!vocab.is_object()) throw error_at(file, "model.vocab", "expected an object {token: id}");
    spec.vocab.reserve(vocab.size());
    for (auto& [token, id] : vocab.items())
      spec.vocab.emplace_back(token, int_value(id, file, "model.vocab[\"" + token + "\"]"));
    const json& merges = required_member(m, "merges", file, field);
    if (!merges.is_array()) throw error_at(file, "model.merges", "expected an array");
    spec.merges.reserve(merges.size());
    for (size_t i = 0; i < merges.size(); ++i) {
      std::string where = "model.merges[" + std::to_string(i) + "]";
      const json& merge = merges[i];
      if (merge.is_string()) {  // "a b" (tokenizers < 0.20)
        auto s = merge.get<std::string>();
        size_t space = s.find(' ');
        if (space == std::string::npos || space == 0 || space + 1 == s.size() ||
            s.find(' ', space + 1) != std::string::npos)
          throw error_at(file, where, "expected two tokens separated by one space");
        spec.merges.emplace_back(s.substr(0, space), s.substr(space + 1));
      } else if (merge.is_array() && merge.size() == 2 && merge[0].is_string() &&
                 merge[1].is_string()) {
        spec.merges.emplace_back(merge[0].get<std::string>(), merge[1].get<std::string>());
      } else {
        throw error_at(file, where, "expected \"a b\" or [\"a\", \"b\"]");
      }
      spec.merge_where.push_back(where);
    }
  }

  void added_tokens(const json& list) {
    if (!list.is_array()) throw error_at(file, "added_tokens", "expected an array");
    for (size_t i = 0; i < list.size(); ++i) {
      std::string field = "added_tokens[" + std::to_string(i) + "]";
      AddedToken t;
      int64_t id = int_value(required_member(list[i], "id", file, field), file, field + ".id");
      if (id < 0 || id >= (int64_t{1} << 31) - 1)
        throw error_at(file, field + ".id", "out of range");
      t.id = static_cast<int32_t>(id);
      t.content = string_member(list[i], "content", file, field);
      t.special = bool_member(list[i], "special", false, file, field);
      t.lstrip = bool_member(list[i], "lstrip", false, file, field);
      t.rstrip = bool_member(list[i], "rstrip", false, file, field);
      t.single_word = bool_member(list[i], "single_word", false, file, field);
      spec.added.push_back(t);
    }
  }

  // A "Sequence" step: each entry of its array `key`, read by `step` under its own field name.
  template <class Step>
  void sequence(const json& seq, const char* key, const std::string& field, Step step) {
    const std::string list_field = field + "." + key;
    const json& list = required_member(seq, key, file, field);
    if (!list.is_array()) throw error_at(file, list_field, "expected an array");
    for (size_t i = 0; i < list.size(); ++i)
      step(list[i], list_field + "[" + std::to_string(i) + "]");
  }

  void normalizer(const json& n, const std::string& field) {
    std::string type = string_member(n, "type", file, field);
    if (type == "Sequence") {
      sequence(n, "normalizers", field,
               [&](const json& e, const std::string& f) { normalizer(e, f); });
      return;
    }
    if (type == "Replace") {
      spec.normalizer.add_replace(literal_pattern(n, field),
                                  string_member(n, "content", file, field));
      return;
    }
    NormalForm form;
    if (type == "NFC")
      form = NormalForm::NFC;
    else if (type == "NFD")
      form = NormalForm::NFD;
    else if (type == "NFKC")
      form = NormalForm::NFKC;
    else if (type == "NFKD")
      form = NormalForm::NFKD;
    else
      throw error_at(file, field + ".type", "normalizer '" + type + "' is not supported");
    if (!Normalizer::available())
      throw error_at(file, field + ".type",
                     type + " needs ICU: rebuild circuitsweep with libicu-dev installed");
    spec.normalizer.add(form);
  }

  // A Replace step's {"String": ...} pattern (regex patterns are refused).
  std::string literal_pattern(const json& r, const std::string& field) const {
    const json& pattern = required_member(r, "pattern", file, field);
    const json* literal = optional_member(pattern, "String", file, field + ".pattern");
    if (!literal || !literal->is_string())
      throw error_at(file, field + ".pattern",
                     "expected {\"String\": ...} (regex replacements are not supported)");
    return literal->get<std::string>();
  }

  // A character-level BPE's decoder: the SentencePiece one (Replace "▁" -> " ", ByteFallback,
  // Fuse), whose replacements decode() applies; csweep decodes to bytes, so ByteFallback and Fuse
  // need nothing more.
  void decoder(const json& d, const std::string& field) {
    std::string type = string_member(d, "type", file, field);
    if (type == "Sequence") {
      sequence(d, "decoders", field, [&](const json& e, const std::string& f) { decoder(e, f); });
    } else if (type == "Replace") {
      spec.decode_replace.emplace_back(literal_pattern(d, field),
                                       string_member(d, "content", file, field));
    } else if (type != "ByteFallback" && type != "Fuse") {
      unsupported(field + ".type", "decoder '" + type + "' with a character-level vocabulary");
    }
  }

  SplitBehavior behavior(const json& p, const std::string& field) {
    std::string b = string_member(p, "behavior", file, field);
    if (b == "Removed") return SplitBehavior::Removed;
    if (b == "Isolated") return SplitBehavior::Isolated;
    if (b == "MergedWithPrevious") return SplitBehavior::MergedWithPrevious;
    if (b == "MergedWithNext") return SplitBehavior::MergedWithNext;
    if (b == "Contiguous") return SplitBehavior::Contiguous;
    throw error_at(file, field + ".behavior", "unknown split behavior '" + b + "'");
  }

  void pre_tokenizer(const json& p, const std::string& field) {
    std::string type = string_member(p, "type", file, field);
    if (type == "Sequence") {
      sequence(p, "pretokenizers", field,
               [&](const json& e, const std::string& f) { pre_tokenizer(e, f); });
    } else if (type == "ByteLevel") {
      PreTokenizerStep step;
      step.add_prefix_space = bool_member(p, "add_prefix_space", true, file, field);
      if (bool_member(p, "use_regex", true, file, field))
        step.regex = std::make_shared<Regex>(kGpt2Pattern, false, file);
      spec.pre_tokenizer.add_step(step);
      saw_byte_level = true;
    } else if (type == "Split") {
      const json& pattern = required_member(p, "pattern", file, field);
      PreTokenizerStep step;
      if (const json* regex = optional_member(pattern, "Regex", file, field + ".pattern")) {
        if (!regex->is_string())
          throw error_at(file, field + ".pattern.Regex", "expected a string");
        step.regex = std::make_shared<Regex>(regex->get<std::string>(), false,
                                             file + ": " + field + ".pattern.Regex");
      } else if (const json* literal =
                     optional_member(pattern, "String", file, field + ".pattern")) {
        if (!literal->is_string())
          throw error_at(file, field + ".pattern.String", "expected a string");
        step.regex = std::make_shared<Regex>(literal->get<std::string>(), true,
                                             file + ": " + field + ".pattern.String");
      } else {
        throw error_at(file, field + ".pattern", "expected {\"Regex\": ...} or {\"String\": ...}");
      }
      step.behavior = behavior(p, field);
      step.invert = bool_member(p, "invert", false, file, field);
      spec.pre_tokenizer.add_step(step);
    } else if (type == "Digits") {
      // Hugging Face splits on char::is_numeric: each digit alone, or runs of digits.
      PreTokenizerStep step;
      step.regex = std::make_shared<Regex>("\\p{N}", false, file);
      step.behavior = bool_member(p, "individual_digits", false, file, field)
                          ? SplitBehavior::Isolated
                          : SplitBehavior::Contiguous;
      spec.pre_tokenizer.add_step(step);
    } else {
      unsupported(field + ".type", "pre-tokenizer '" + type + "'");
    }
  }

  // TemplateProcessing's single template starting with a special token: that token is BOS
  // (Llama 3's <|begin_of_text|>).
  void post_processor(const json& p, const std::string& field) {
    std::string type = string_member(p, "type", file, field);
    if (type == "Sequence") {
      if (const json* list = optional_member(p, "processors", file, field))
        if (list->is_array())
          for (size_t i = 0; i < list->size(); ++i)
            post_processor((*list)[i], field + ".processors[" + std::to_string(i) + "]");
    } else if (type == "TemplateProcessing") {
      const json* single = optional_member(p, "single", file, field);
      if (single && single->is_array() && !single->empty() && (*single)[0].is_object()) {
        auto it = (*single)[0].find("SpecialToken");
        if (it != (*single)[0].end() && it->is_object() && it->contains("id") &&
            (*it)["id"].is_string())
          spec.bos_token = (*it)["id"].get<std::string>();
      }
    }
  }
};

}  // namespace

BpeSpec read_tokenizer_json(const std::filesystem::path& dir) {
  BpeSpec spec;
  spec.file = dir / "tokenizer.json";
  spec.vocab_field = "model.vocab";
  Reader reader{spec.file.string(), spec};
  json j = read_json_file(spec.file);
  if (!j.is_object()) throw error_at(reader.file, "", "expected a JSON object");
  reader.model(required_member(j, "model", reader.file, ""));
  if (const json* added = optional_member(j, "added_tokens", reader.file, ""))
    reader.added_tokens(*added);
  if (const json* n = optional_member(j, "normalizer", reader.file, ""))
    reader.normalizer(*n, "normalizer");
  const json* pre = optional_member(j, "pre_tokenizer", reader.file, "");
  if (pre) reader.pre_tokenizer(*pre, "pre_tokenizer");
  spec.byte_level = reader.saw_byte_level;
  if (!spec.byte_level) {
    // Character-level BPE: only the SentencePiece kind, whose every byte has a fallback token.
    if (!spec.byte_fallback)
      throw error_at(reader.file, "pre_tokenizer",
                     "no ByteLevel step and no model.byte_fallback: only byte-level BPE and BPE "
                     "with byte fallback are supported");
    const json* dec = optional_member(j, "decoder", reader.file, "");
    if (!dec || dec->is_null())
      throw error_at(reader.file, "decoder", "missing (a byte-fallback BPE needs its decoder)");
    reader.decoder(*dec, "decoder");
  }
  if (const json* post = optional_member(j, "post_processor", reader.file, ""))
    reader.post_processor(*post, "post_processor");

  TokenizerConfig config = read_tokenizer_config(dir);
  if (config.bos) spec.bos_token = config.bos;
  if (config.eos) spec.eos_token = config.eos;
  // GPT-2 and Pythia: <|endoftext|> serves as BOS and EOS.
  for (const auto& t : spec.added)
    if (t.content == "<|endoftext|>") {
      if (!spec.bos_token) spec.bos_token = t.content;
      if (!spec.eos_token) spec.eos_token = t.content;
    }
  return spec;
}

}  // namespace csweep::model::tokenizer
