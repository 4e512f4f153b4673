#pragma once
// Unicode normalisation a tokenizer.json may declare (NFC for Pythia and Qwen), through ICU.
#include <string>
#include <string_view>
#include <vector>

namespace csweep::model::tokenizer {

enum class NormalForm { NFC, NFD, NFKC, NFKD };

class Normalizer {
 public:
  static bool available();  // false when built without ICU
  void add(NormalForm form) { forms_.push_back(form); }
  bool empty() const { return forms_.empty(); }
  std::string apply(std::string_view text) const;  // text is valid UTF-8

 private:
  std::vector<NormalForm> forms_;
};

}  // namespace csweep::model::tokenizer
