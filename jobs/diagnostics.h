#pragma once
// Collects every problem found in a job file (and the files it names) so the user sees them
// all at once, each as "file:line:column: reason" with 1-based line and column.
#include <string>
#include <vector>

#include <yaml-cpp/yaml.h>

namespace csweep::jobs {

class Diagnostics {
 public:
  // line0/column0 are 0-based (yaml-cpp marks); a negative line reports no position.
  void error(const std::string& file, int line0, int column0, const std::string& reason);
  bool any() const { return !entries_.empty(); }
  size_t count() const { return entries_.size(); }
  // Throws csweep::Error with every entry, sorted by file (first seen first), line, column.
  void throw_if_any() const;

 private:
  struct Entry {
    size_t file_rank;
    int line;
    int column;
    size_t seq;
    std::string text;
  };
  std::vector<std::string> files_;
  std::vector<Entry> entries_;
};

// Where a YAML document came from: the job file itself, or line N of a JSONL prompt file
// (each line parsed as a one-line YAML flow document).
struct Source {
  Diagnostics* diag = nullptr;
  std::string file;
  int line_offset = 0;
  void error(const YAML::Node& at, const std::string& reason) const;
  void error(const YAML::Mark& at, const std::string& reason) const;
};

// " (did you mean \"x\"?)" for the closest candidate within a small edit distance, else "".
std::string did_you_mean(const std::string& word, const std::vector<std::string>& candidates);

}  // namespace csweep::jobs
