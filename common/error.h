#pragma once
// One exception type for every user-facing failure. Its message is a single line that names
// the file, the field (or tensor, or line:column) and the reason, so `csweep` can print it
// as-is and exit non-zero.
#include <stdexcept>
#include <string>

namespace csweep {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& message) : std::runtime_error(message) {}
};

// "FILE: WHAT: REASON" — the shape of every error message in the project.
inline Error error_at(const std::string& file, const std::string& what, const std::string& reason) {
  if (what.empty()) return Error(file + ": " + reason);
  return Error(file + ": " + what + ": " + reason);
}

}  // namespace csweep
