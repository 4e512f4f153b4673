#pragma once
// The normalisers a tokenizer.json may declare, applied in order: Unicode normal forms (NFC for
// Pythia and Qwen) through ICU, and literal Replace (Gemma: " " -> "▁").
#include <string>
#include <string_view>
#include <vector>

namespace csweep::model::tokenizer {

enum class NormalForm { NFC, NFD, NFKC, NFKD };

class Normalizer {
 public:
  static bool available();  // false when built without ICU (normal forms only)
  void add(NormalForm form) { steps_.push_back({false, form, {}, {}}); }
  void add_replace(std::string pattern, std::string content) {
    steps_.push_back({true, NormalForm::NFC, std::move(pattern), std::move(content)});
  }
  bool empty() const { return steps_.empty(); }
  std::string apply(std::string_view text) const;  // text is valid UTF-8

 private:
  struct Step {
    bool replace;
    NormalForm form;
    std::string pattern, content;  // Replace: every occurrence, left to right
  };
  std::vector<Step> steps_;
  static std::string normal_form(std::string_view text, NormalForm form);
};

}  // namespace csweep::model::tokenizer
