#pragma once
// Levenshtein distance: the "did you mean" of every validator (job files, cluster profiles).
#include <cstddef>
#include <string>

namespace csweep {

size_t edit_distance(const std::string& a, const std::string& b);

}  // namespace csweep
