#pragma once
// Grid axes for the kinds' tests: an axis over every index of a model dimension.
#include <cstdint>
#include <string>

#include "analyses/sweep.h"

namespace csweep::analyses::testing {

// The axis `name` over 0..n-1 (every layer, head, scale, ...).
inline GridAxis every_index(const std::string& name, int64_t n) {
  GridAxis a{name, {}, {}};
  for (int64_t i = 0; i < n; ++i) a.values.push_back(i);
  return a;
}

}  // namespace csweep::analyses::testing
