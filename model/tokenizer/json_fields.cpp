#include "model/tokenizer/json_fields.h"

#include <fstream>
#include <sstream>

#include "common/error.h"

namespace csweep::model::tokenizer {

using nlohmann::json;

std::string join_field(const std::string& field, const std::string& key) {
  return field.empty() ? key : field + "." + key;
}

json read_json_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw error_at(path.string(), "", "cannot open file");
  std::stringstream buffer;
  buffer << in.rdbuf();
  try {
    return json::parse(buffer.str());
  } catch (const json::exception& e) {  // parse_error, or out_of_range: 1e5555
    throw error_at(path.string(), "", std::string("not valid JSON: ") + e.what());
  }
}

const json* optional_member(const json& obj, const char* key, const std::string& file,
                            const std::string& field) {
  if (!obj.is_object())
    throw error_at(file, field.empty() ? "(top level)" : field, "expected a JSON object");
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return nullptr;
  return &*it;
}

const json& required_member(const json& obj, const char* key, const std::string& file,
                            const std::string& field) {
  const json* value = optional_member(obj, key, file, field);
  if (!value) throw error_at(file, join_field(field, key), "missing");
  return *value;
}

bool bool_member(const json& obj, const char* key, bool fallback, const std::string& file,
                 const std::string& field) {
  const json* value = optional_member(obj, key, file, field);
  if (!value) return fallback;
  if (!value->is_boolean()) throw error_at(file, join_field(field, key), "expected true or false");
  return value->get<bool>();
}

std::string string_member(const json& obj, const char* key, const std::string& file,
                          const std::string& field) {
  const json& value = required_member(obj, key, file, field);
  if (!value.is_string()) throw error_at(file, join_field(field, key), "expected a string");
  return value.get<std::string>();
}

int64_t int_value(const json& value, const std::string& file, const std::string& field) {
  if (!value.is_number_integer()) throw error_at(file, field, "expected an integer");
  return value.get<int64_t>();
}

std::optional<std::string> token_content(const json& value, const std::string& file,
                                         const std::string& field) {
  if (value.is_null()) return std::nullopt;
  if (value.is_string()) return value.get<std::string>();
  if (value.is_object()) return string_member(value, "content", file, field);
  throw error_at(file, field, "expected a string or an object with \"content\"");
}

}  // namespace csweep::model::tokenizer
