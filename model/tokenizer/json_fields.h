#pragma once
// Typed, error-naming access to the JSON files of a tokenizer folder. Every failure is
// csweep::Error "FILE: FIELD: reason".
#include <filesystem>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

namespace csweep::model::tokenizer {

nlohmann::json read_json_file(const std::filesystem::path& path);

// obj[key] when present and not null, else nullptr. Throws if obj is not an object.
const nlohmann::json* optional_member(const nlohmann::json& obj, const char* key,
                                      const std::string& file, const std::string& field);
const nlohmann::json& required_member(const nlohmann::json& obj, const char* key,
                                      const std::string& file, const std::string& field);

bool bool_member(const nlohmann::json& obj, const char* key, bool fallback, const std::string& file,
                 const std::string& field);
std::string string_member(const nlohmann::json& obj, const char* key, const std::string& file,
                          const std::string& field);
int64_t int_value(const nlohmann::json& value, const std::string& file, const std::string& field);

// A special token as tokenizer_config.json / special_tokens_map.json write it: a string or
// {"content": ...}; nullopt for null.
std::optional<std::string> token_content(const nlohmann::json& value, const std::string& file,
                                         const std::string& field);

// field + "." + key, or key at the top level.
std::string join_field(const std::string& field, const std::string& key);

}  // namespace csweep::model::tokenizer
