#include "model/tokenizer/json_fields.h"
#include "model/tokenizer/tokenizer_impl.h"

#include "common/error.h"

namespace csweep::model::tokenizer {

using nlohmann::json;

namespace {

void read_special_tokens(const json& j, const std::string& file, TokenizerConfig& config) {
  for (const char* key : {"bos_token", "eos_token", "unk_token", "pad_token"}) {
    const json* value = optional_member(j, key, file, "");
    if (!value) continue;
    auto content = token_content(*value, file, key);
    if (!content) continue;
    config.special_tokens.push_back(*content);
    std::string k = key;
    if (k == "bos_token") config.bos = content;
    if (k == "eos_token") config.eos = content;
    if (k == "unk_token") config.unk = content;
  }
  if (const json* extra = optional_member(j, "additional_special_tokens", file, "")) {
    if (!extra->is_array()) throw error_at(file, "additional_special_tokens", "expected an array");
    for (size_t i = 0; i < extra->size(); ++i)
      if (auto content = token_content((*extra)[i], file,
                                       "additional_special_tokens[" + std::to_string(i) + "]"))
        config.special_tokens.push_back(*content);
  }
}

}  // namespace

TokenizerConfig read_tokenizer_config(const std::filesystem::path& dir) {
  TokenizerConfig config;
  // special_tokens_map.json first: tokenizer_config.json, the newer file, wins.
  auto map_path = dir / "special_tokens_map.json";
  if (std::filesystem::exists(map_path)) {
    config.found = true;
    read_special_tokens(read_json_file(map_path), map_path.string(), config);
  }
  auto config_path = dir / "tokenizer_config.json";
  if (std::filesystem::exists(config_path)) {
    config.found = true;
    const std::string file = config_path.string();
    json j = read_json_file(config_path);
    read_special_tokens(j, file, config);
    if (const json* v = optional_member(j, "add_prefix_space", file, "")) {
      if (!v->is_boolean()) throw error_at(file, "add_prefix_space", "expected true or false");
      config.add_prefix_space = v->get<bool>();
    }
    if (const json* decoder = optional_member(j, "added_tokens_decoder", file, "")) {
      if (!decoder->is_object()) throw error_at(file, "added_tokens_decoder", "expected an object");
      for (auto& [key, entry] : decoder->items()) {
        std::string field = "added_tokens_decoder[\"" + key + "\"]";
        AddedToken t;
        try {
          t.id = std::stoi(key);
        } catch (const std::exception&) {
          throw error_at(file, field, "key is not an integer id");
        }
        t.content = string_member(entry, "content", file, field);
        t.special = bool_member(entry, "special", false, file, field);
        t.lstrip = bool_member(entry, "lstrip", false, file, field);
        t.rstrip = bool_member(entry, "rstrip", false, file, field);
        t.single_word = bool_member(entry, "single_word", false, file, field);
        config.added.push_back(t);
      }
    }
  }
  auto added_path = dir / "added_tokens.json";
  if (std::filesystem::exists(added_path)) {
    config.found = true;
    const std::string file = added_path.string();
    json j = read_json_file(added_path);
    if (!j.is_object()) throw error_at(file, "", "expected an object {token: id}");
    for (auto& [content, id] : j.items()) {
      AddedToken t;
      t.content = content;
      t.id = static_cast<int32_t>(int_value(id, file, "\"" + content + "\""));
      config.added.push_back(t);
    }
  }
  return config;
}

}  // namespace csweep::model::tokenizer
