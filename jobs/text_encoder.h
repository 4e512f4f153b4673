#pragma once
// Turns prompt text into token ids with the model's own tokenizer, loaded on first use, and
// reports (through a Source) when there is no tokenizer: token-id prompts never need one.
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "jobs/diagnostics.h"

namespace csweep::model {
class Tokenizer;
}

namespace csweep::jobs {

class TextEncoder {
 public:
  explicit TextEncoder(std::filesystem::path model_dir, bool prepend_bos = false)
      : model_dir_(std::move(model_dir)), prepend_bos_(prepend_bos) {}
  ~TextEncoder();
  // Reports "<path>: <why>" at `at` and returns nullopt when the text cannot be encoded.
  std::optional<std::vector<int64_t>> encode(const Source& src, const YAML::Node& at,
                                             const std::string& path, const std::string& text);
  // A prompt's text: encode(), with the tokenizer's BOS in front under model.prepend_bos (as
  // TransformerLens's to_tokens); answers and words inside a prompt use encode().
  std::optional<std::vector<int64_t>> encode_prompt(const Source& src, const YAML::Node& at,
                                                    const std::string& path,
                                                    const std::string& text);
  bool prepend_bos() const { return prepend_bos_; }

 private:
  std::filesystem::path model_dir_;
  bool prepend_bos_ = false;
  bool tried_ = false;
  std::string unavailable_;  // why there is no tokenizer, once tried
  std::shared_ptr<model::Tokenizer> tokenizer_;
};

}  // namespace csweep::jobs
