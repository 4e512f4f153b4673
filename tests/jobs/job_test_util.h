#pragma once
// Job-file text parsed as if it lived in examples/, so "../../shared/fixtures/gpt2-tiny"
// names the fixture; messages carry that path.
#include <filesystem>
#include <string>

#include <gtest/gtest.h>

#include "common/error.h"
#include "jobs/job_spec.h"
#include "tests/test_paths.h"

namespace csweep::jobs::testing {

inline std::filesystem::path job_path(const std::string& name = "t.yaml") {
  return csweep::testing::source_path("examples") / name;
}

// The error message load would throw for `yaml`, or "" when it parses.
inline std::string parse_error(const std::string& yaml,
                               const std::filesystem::path& file = job_path()) {
  try {
    parse_job_spec(yaml, file);
  } catch (const csweep::Error& e) {
    return e.what();
  }
  return "";
}

inline std::string at(int line, int column, const std::string& reason) {
  return job_path().string() + ":" + std::to_string(line) + ":" + std::to_string(column) + ": " +
         reason;
}

constexpr const char* kModel = "model:\n  path: ../../shared/fixtures/gpt2-tiny\n";
constexpr const char* kPrompt =
    "prompts:\n"
    "  - clean: [201, 888, 641, 766, 85, 445, 885, 339]\n"
    "    corrupted: [201, 888, 45, 766, 85, 122, 885, 339]\n"
    "    answer: 613\n"
    "    wrong: 486\n";

// The fixture's model and prompt with `line` as the analyses section: the analysis starts on
// line 9 of the job.
inline std::string analysis_job(const std::string& line) {
  return std::string(kModel) + kPrompt + "analyses:\n" + line + "\n";
}

// The file:line:column error analysis_job(line) gives at `value` in the analysis line.
inline std::string analysis_error_at(const std::string& line, const std::string& value,
                                     const std::string& reason) {
  return at(9, static_cast<int>(line.find(value)) + 1, reason);
}

}  // namespace csweep::jobs::testing
