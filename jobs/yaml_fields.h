#pragma once
// Typed reads of YAML fields that report mistakes through a Source instead of throwing, so a
// job file's problems are all collected in one pass. `path` names the field in messages
// ("analyses[0].layers"); a failed read reports and returns nullopt.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <yaml-cpp/yaml.h>

#include "jobs/diagnostics.h"

namespace csweep::jobs {

std::string describe(const YAML::Node& node);  // "a map", "a sequence", "\"abc\"", "null"

bool expect_map(const Source& src, const YAML::Node& node, const std::string& path);
bool expect_sequence(const Source& src, const YAML::Node& node, const std::string& path);
// Reports every key of `map` not in `allowed` (with a "did you mean").
void check_keys(const Source& src, const YAML::Node& map, const std::string& path,
                const std::vector<std::string>& allowed);

std::optional<int64_t> read_int(const Source& src, const YAML::Node& node, const std::string& path);
std::optional<double> read_double(const Source& src, const YAML::Node& node,
                                  const std::string& path);
std::optional<bool> read_bool(const Source& src, const YAML::Node& node, const std::string& path);
std::optional<std::string> read_string(const Source& src, const YAML::Node& node,
                                       const std::string& path);
std::optional<std::string> read_choice(const Source& src, const YAML::Node& node,
                                       const std::string& path,
                                       const std::vector<std::string>& choices);
// A list of choices; a single scalar counts as a one-element list.
std::optional<std::vector<std::string>> read_choices(const Source& src, const YAML::Node& node,
                                                     const std::string& path,
                                                     const std::vector<std::string>& choices);
// A size: an integer of bytes or "<number><unit>" with unit B, KB, MB, GB, KiB, MiB, GiB, TiB.
std::optional<uint64_t> read_bytes(const Source& src, const YAML::Node& node,
                                   const std::string& path);
std::optional<int64_t> parse_byte_size(const std::string& text);

// An index axis: absent or "all" → every index in [0, limit); an integer; "a-b" (inclusive);
// or a sequence of integers and "a-b" ranges. Reports out-of-range entries as
// "<path>: <what> N out of range (<limit_text>)" and an empty sequence as an empty axis.
// limit < 0 means the range is unknown (model config missing): no range checks, "all" → {}.
// With `from_end`, negative indices count from the end: -1 is limit - 1 (Python's and
// TransformerLens's convention), in ranges too ("-3--1").
// Returns sorted, de-duplicated indices.
std::optional<std::vector<int64_t>> read_axis(const Source& src, const YAML::Node& node,
                                              const std::string& path, int64_t limit,
                                              const std::string& what,
                                              const std::string& limit_text, bool from_end = false);

}  // namespace csweep::jobs
