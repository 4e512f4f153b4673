#include "jobs/diagnostics.h"

#include <algorithm>
#include <climits>
#include <tuple>

#include "common/edit_distance.h"
#include "common/error.h"

namespace csweep::jobs {

void Diagnostics::error(const std::string& file, int line0, int column0,
                        const std::string& reason) {
  size_t rank = std::find(files_.begin(), files_.end(), file) - files_.begin();
  if (rank == files_.size()) files_.push_back(file);
  std::string text = file;
  if (line0 >= 0) text += ":" + std::to_string(line0 + 1) + ":" + std::to_string(column0 + 1);
  text += ": " + reason;
  entries_.push_back({rank, line0, column0, entries_.size(), std::move(text)});
}

void Diagnostics::throw_if_any() const {
  if (entries_.empty()) return;
  std::vector<Entry> sorted = entries_;
  std::stable_sort(sorted.begin(), sorted.end(), [](const Entry& a, const Entry& b) {
    // Problems without a position (a missing section) come after the positioned ones.
    int line_a = a.line < 0 ? INT_MAX : a.line, line_b = b.line < 0 ? INT_MAX : b.line;
    return std::tie(a.file_rank, line_a, a.column, a.seq) <
           std::tie(b.file_rank, line_b, b.column, b.seq);
  });
  std::string message;
  for (const auto& e : sorted) {
    if (!message.empty()) message += "\n";
    message += e.text;
  }
  throw Error(message);
}

void Source::error(const YAML::Mark& at, const std::string& reason) const {
  if (at.is_null()) {
    diag->error(file, -1, -1, reason);
    return;
  }
  diag->error(file, at.line + line_offset, at.column, reason);
}

void Source::error(const YAML::Node& at, const std::string& reason) const {
  error(at.IsDefined() ? at.Mark() : YAML::Mark::null_mark(), reason);
}

std::string did_you_mean(const std::string& word, const std::vector<std::string>& candidates) {
  const std::string* best = nullptr;
  size_t best_distance = 0;
  for (const auto& c : candidates) {
    size_t d = edit_distance(word, c);
    if (!best || d < best_distance) {
      best = &c;
      best_distance = d;
    }
  }
  size_t limit = std::max<size_t>(2, word.size() / 3);
  if (!best || best_distance > limit) return "";
  return " (did you mean \"" + *best + "\"?)";
}

}  // namespace csweep::jobs
