#include "jobs/yaml_fields.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>

namespace csweep::jobs {

std::string describe(const YAML::Node& node) {
  if (!node.IsDefined() || node.IsNull()) return "null";
  if (node.IsMap()) return "a map";
  if (node.IsSequence()) return "a sequence";
  return "\"" + node.Scalar() + "\"";
}

bool expect_map(const Source& src, const YAML::Node& node, const std::string& path) {
  if (node.IsMap()) return true;
  src.error(node, path + ": expected a map, got " + describe(node));
  return false;
}

bool expect_sequence(const Source& src, const YAML::Node& node, const std::string& path) {
  if (node.IsSequence()) return true;
  src.error(node, path + ": expected a sequence, got " + describe(node));
  return false;
}

void check_keys(const Source& src, const YAML::Node& map, const std::string& path,
                const std::vector<std::string>& allowed) {
  if (!map.IsMap()) return;
  for (const auto& kv : map) {
    if (!kv.first.IsScalar()) {
      src.error(kv.first, path + ": keys must be plain names, got " + describe(kv.first));
      continue;
    }
    const std::string& key = kv.first.Scalar();
    if (std::find(allowed.begin(), allowed.end(), key) != allowed.end()) continue;
    std::string where = path.empty() ? "" : " in " + path;
    src.error(kv.first, "unknown key \"" + key + "\"" + where + did_you_mean(key, allowed));
  }
}

namespace {

bool parse_int(const std::string& text, int64_t& out) {
  if (text.empty()) return false;
  size_t i = (text[0] == '-' || text[0] == '+') ? 1 : 0;
  if (i == text.size() || text.size() > 19) return false;
  for (size_t k = i; k < text.size(); ++k)
    if (!std::isdigit(static_cast<unsigned char>(text[k]))) return false;
  out = std::strtoll(text.c_str(), nullptr, 10);
  return true;
}

bool parse_double(const std::string& text, double& out) {
  if (text.empty()) return false;
  char* end = nullptr;
  out = std::strtod(text.c_str(), &end);
  return end == text.c_str() + text.size() && std::isfinite(out);
}

}  // namespace

std::optional<int64_t> read_int(const Source& src, const YAML::Node& node,
                                const std::string& path) {
  int64_t v = 0;
  if (node.IsScalar() && parse_int(node.Scalar(), v)) return v;
  src.error(node, path + ": expected an integer, got " + describe(node));
  return std::nullopt;
}

std::optional<double> read_double(const Source& src, const YAML::Node& node,
                                  const std::string& path) {
  double v = 0;
  if (node.IsScalar() && parse_double(node.Scalar(), v)) return v;
  src.error(node, path + ": expected a number, got " + describe(node));
  return std::nullopt;
}

std::optional<bool> read_bool(const Source& src, const YAML::Node& node, const std::string& path) {
  if (node.IsScalar()) {
    const std::string& s = node.Scalar();
    if (s == "true" || s == "True" || s == "yes") return true;
    if (s == "false" || s == "False" || s == "no") return false;
  }
  src.error(node, path + ": expected true or false, got " + describe(node));
  return std::nullopt;
}

namespace {
// The offset of the first byte that breaks UTF-8 (overlong forms, surrogates and code points
// past U+10FFFF included), or npos. Job strings end up in JSON (provenance, status, sweep.h5).
size_t invalid_utf8_at(const std::string& s) {
  size_t i = 0;
  while (i < s.size()) {
    const auto b = static_cast<unsigned char>(s[i]);
    const size_t n = b < 0x80           ? 1
                     : (b >> 5) == 0x6  ? 2
                     : (b >> 4) == 0xE  ? 3
                     : (b >> 3) == 0x1E ? 4
                                        : 0;
    if (n == 0 || i + n > s.size()) return i;
    uint32_t cp = n == 1 ? b : n == 2 ? (b & 0x1F) : n == 3 ? (b & 0x0F) : (b & 0x07);
    for (size_t k = 1; k < n; ++k) {
      const auto c = static_cast<unsigned char>(s[i + k]);
      if ((c >> 6) != 0x2) return i;
      cp = (cp << 6) | (c & 0x3F);
    }
    const uint32_t min_cp[5] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < min_cp[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return i;
    i += n;
  }
  return std::string::npos;
}
}  // namespace

std::optional<std::string> read_string(const Source& src, const YAML::Node& node,
                                       const std::string& path) {
  if (node.IsScalar()) {
    const std::string& s = node.Scalar();
    if (const size_t bad = invalid_utf8_at(s); bad != std::string::npos) {
      char byte[8];
      std::snprintf(byte, sizeof byte, "0x%02X", static_cast<unsigned char>(s[bad]));
      src.error(node, path + ": not valid UTF-8 (byte " + byte + " at offset " +
                          std::to_string(bad) + ")");
      return std::nullopt;
    }
    return s;
  }
  src.error(node, path + ": expected a string, got " + describe(node));
  return std::nullopt;
}

namespace {
std::string join(const std::vector<std::string>& items, const char* sep) {
  std::string out;
  for (const auto& s : items) out += (out.empty() ? "" : sep) + s;
  return out;
}
}  // namespace

std::optional<std::string> read_choice(const Source& src, const YAML::Node& node,
                                       const std::string& path,
                                       const std::vector<std::string>& choices) {
  if (!node.IsScalar()) {
    src.error(node, path + ": expected one of " + join(choices, ", ") + ", got " + describe(node));
    return std::nullopt;
  }
  const std::string& s = node.Scalar();
  if (std::find(choices.begin(), choices.end(), s) != choices.end()) return s;
  src.error(node, path + ": unknown value \"" + s + "\"" + did_you_mean(s, choices) +
                      "; expected one of " + join(choices, ", "));
  return std::nullopt;
}

std::optional<std::vector<std::string>> read_choices(const Source& src, const YAML::Node& node,
                                                     const std::string& path,
                                                     const std::vector<std::string>& choices) {
  std::vector<std::string> out;
  bool ok = true;
  if (node.IsScalar()) {
    auto one = read_choice(src, node, path, choices);
    if (!one) return std::nullopt;
    return std::vector<std::string>{*one};
  }
  if (!expect_sequence(src, node, path)) return std::nullopt;
  if (node.size() == 0) {
    src.error(node, path + ": empty list");
    return std::nullopt;
  }
  for (size_t i = 0; i < node.size(); ++i) {
    auto one = read_choice(src, node[i], path + "[" + std::to_string(i) + "]", choices);
    if (!one) {
      ok = false;
      continue;
    }
    if (std::find(out.begin(), out.end(), *one) == out.end()) out.push_back(*one);
  }
  if (!ok) return std::nullopt;
  return out;
}

std::optional<int64_t> parse_byte_size(const std::string& text) {
  size_t i = 0;
  while (i < text.size() && (std::isdigit(static_cast<unsigned char>(text[i])) || text[i] == '.'))
    ++i;
  double number = 0;
  if (i == 0 || !parse_double(text.substr(0, i), number)) return std::nullopt;
  std::string unit = text.substr(i);
  unit.erase(0, unit.find_first_not_of(' '));
  const std::pair<const char*, double> units[] = {{"", 1},
                                                  {"B", 1},
                                                  {"KB", 1e3},
                                                  {"MB", 1e6},
                                                  {"GB", 1e9},
                                                  {"TB", 1e12},
                                                  {"KiB", 1024.0},
                                                  {"MiB", 1048576.0},
                                                  {"GiB", 1073741824.0},
                                                  {"TiB", 1099511627776.0}};
  for (const auto& [name, factor] : units)
    if (unit == name) return static_cast<int64_t>(std::llround(number * factor));
  return std::nullopt;
}

std::optional<uint64_t> read_bytes(const Source& src, const YAML::Node& node,
                                   const std::string& path) {
  if (node.IsScalar()) {
    auto v = parse_byte_size(node.Scalar());
    if (v && *v > 0) return static_cast<uint64_t>(*v);
  }
  src.error(node,
            path + ": expected a positive size such as 2GiB or 512MiB, got " + describe(node));
  return std::nullopt;
}

namespace {

// "3" or "1-4" → [first, last]; false when the text is neither.
bool parse_range(const std::string& text, int64_t& first, int64_t& last) {
  if (parse_int(text, first)) {
    last = first;
    return true;
  }
  size_t dash = text.find('-', 1);
  if (dash == std::string::npos) return false;
  auto trim = [](std::string s) {
    s.erase(0, s.find_first_not_of(' '));
    s.erase(s.find_last_not_of(' ') + 1);
    return s;
  };
  return parse_int(trim(text.substr(0, dash)), first) &&
         parse_int(trim(text.substr(dash + 1)), last);
}

}  // namespace

std::optional<std::vector<int64_t>> read_axis(const Source& src, const YAML::Node& node,
                                              const std::string& path, int64_t limit,
                                              const std::string& what,
                                              const std::string& limit_text, bool from_end) {
  std::vector<int64_t> out;
  auto all = [&] {
    for (int64_t i = 0; i < limit; ++i) out.push_back(i);
    return out;
  };
  if (!node.IsDefined() || node.IsNull()) return all();
  if (node.IsScalar() && node.Scalar() == "all") return all();
  bool ok = true;
  auto take = [&](const YAML::Node& item, const std::string& item_path) {
    int64_t first = 0, last = 0;
    if (!item.IsScalar() || !parse_range(item.Scalar(), first, last)) {
      src.error(item,
                item_path + ": expected an index, a range \"a-b\" or all, got " + describe(item));
      ok = false;
      return;
    }
    const int64_t given[2] = {first, last};
    if (from_end && limit >= 0) {
      if (first < 0) first += limit;
      if (last < 0) last += limit;
    }
    if (last < first) {
      src.error(item, item_path + ": empty range " + item.Scalar());
      ok = false;
      return;
    }
    for (int i = 0; i < 2; ++i) {
      const int64_t v = i ? last : first;
      if (v < 0 || (limit >= 0 && v >= limit)) {
        src.error(item, item_path + ": " + what + " " + std::to_string(given[i]) +
                            " out of range (" + limit_text + ")");
        ok = false;
        return;
      }
    }
    for (int64_t v = first; v <= last; ++v) out.push_back(v);
  };
  if (node.IsSequence()) {
    if (node.size() == 0) {
      src.error(node, path + ": empty axis (list at least one " + what + " or write all)");
      return std::nullopt;
    }
    for (size_t i = 0; i < node.size(); ++i) take(node[i], path + "[" + std::to_string(i) + "]");
  } else {
    take(node, path);
  }
  if (!ok) return std::nullopt;
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

}  // namespace csweep::jobs
