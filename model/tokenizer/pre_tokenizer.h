#pragma once
// Pre-tokenisation: the regex splits a model declares (Hugging Face `Split` and `ByteLevel`
// pre-tokenizers), run with PCRE2 in UTF + UCP mode so \p{L}, \p{N} and \s are Unicode-aware.
// Works on raw UTF-8 bytes; the byte → character mapping of ByteLevel is implicit because
// the BPE vocabulary is kept in raw bytes.
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace csweep::model::tokenizer {

// GPT-2's pattern (also the default of Hugging Face's ByteLevel pre-tokenizer).
extern const char* const kGpt2Pattern;

class Regex {
 public:
  // Throws csweep::Error "WHERE: invalid regex: ..." if PCRE2 rejects the pattern.
  // literal: match the pattern text verbatim (Split with {"String": ...}).
  Regex(const std::string& pattern, bool literal, const std::string& where);
  ~Regex();
  Regex(const Regex&) = delete;
  Regex& operator=(const Regex&) = delete;

  // Non-overlapping matches [begin, end) left to right; empty matches are skipped.
  // `subject` must be valid UTF-8 (checked once by the caller).
  std::vector<std::pair<size_t, size_t>> matches(std::string_view subject) const;

 private:
  void* code_;  // pcre2_code_8*, kept out of the header
  bool jit_;
  std::string where_;
};

// Hugging Face SplitDelimiterBehavior.
enum class SplitBehavior { Removed, Isolated, MergedWithPrevious, MergedWithNext, Contiguous };

struct PreTokenizerStep {
  std::shared_ptr<const Regex> regex;  // null: no split (ByteLevel with use_regex false)
  SplitBehavior behavior = SplitBehavior::Isolated;
  bool invert = false;
  bool add_prefix_space = false;  // ByteLevel: prepend ' ' to a piece that lacks one
};

class PreTokenizer {
 public:
  void add_step(PreTokenizerStep step) { steps_.push_back(std::move(step)); }
  bool empty() const { return steps_.empty(); }
  // Replaces `pieces` with the pre-tokens of `text`.
  void split(std::string_view text, std::vector<std::string>& pieces) const;

 private:
  std::vector<PreTokenizerStep> steps_;
};

}  // namespace csweep::model::tokenizer
