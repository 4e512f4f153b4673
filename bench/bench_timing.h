#pragma once
// Wall-clock helpers shared by the benchmarks.
#include <algorithm>
#include <chrono>

namespace csweep::bench {

inline double now_ms() {
  return std::chrono::duration<double, std::milli>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// Best of `iters` runs after one warm-up (allocator, attention masks, oneDNN primitives): the
// machine is shared, the best run is the one least disturbed.
template <class F>
double best_ms(int iters, F&& f) {
  f();
  double best = 1e300;
  for (int i = 0; i < iters; ++i) {
    const double t0 = now_ms();
    f();
    best = std::min(best, now_ms() - t0);
  }
  return best;
}

}  // namespace csweep::bench
