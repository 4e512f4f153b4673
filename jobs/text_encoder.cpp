#include "jobs/text_encoder.h"

#include "common/error.h"
#include "model/tokenizer/tokenizer.h"

namespace csweep::jobs {

TextEncoder::~TextEncoder() = default;

std::optional<std::vector<int64_t>> TextEncoder::encode(const Source& src, const YAML::Node& at,
                                                        const std::string& path,
                                                        const std::string& text) {
  if (!tried_) {
    tried_ = true;
    if (model_dir_.empty()) {
      unavailable_ = "text prompts need the model's tokenizer, but model.path is not usable";
    } else if (!model::has_tokenizer(model_dir_)) {
      unavailable_ = "text prompts need a tokenizer, but " + model_dir_.string() +
                     " has no tokenizer.json or vocab.json + merges.txt; give token ids instead";
    } else {
      try {
        tokenizer_ = model::load_tokenizer(model_dir_);
      } catch (const Error& e) {
        unavailable_ = std::string("cannot load the tokenizer: ") + e.what();
      }
    }
  }
  if (tokenizer_) {
    try {
      return tokenizer_->encode(text);
    } catch (const Error& e) {
      src.error(at, path + ": " + e.what());
      return std::nullopt;
    }
  }
  src.error(at, path + ": " + unavailable_);
  return std::nullopt;
}

std::optional<std::vector<int64_t>> TextEncoder::encode_prompt(const Source& src,
                                                               const YAML::Node& at,
                                                               const std::string& path,
                                                               const std::string& text) {
  auto ids = text.empty() ? std::optional<std::vector<int64_t>>(std::vector<int64_t>{})
                          : encode(src, at, path, text);
  if (!ids || !prepend_bos_) return ids;
  const auto bos = tokenizer_ ? tokenizer_->bos_id() : std::nullopt;
  if (!bos) {
    src.error(at, path + ": model.prepend_bos: the tokenizer of " + model_dir_.string() +
                      " names no BOS token (tokenizer_config.json bos_token)");
    return std::nullopt;
  }
  ids->insert(ids->begin(), *bos);
  return ids;
}

}  // namespace csweep::jobs
