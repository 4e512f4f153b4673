#pragma once
// The probe kind (jobs/kinds/probe.cpp owns its grid): per (site, layer, token) a ridge probe
// fitted on the training prompts' activations and scored on the held-out prompts, beside the same
// probe fitted on shuffled training labels (the control).
#include <ATen/ATen.h>

#include <cstdint>
#include <vector>

namespace csweep::analyses {

// The quantity axis's entries, in this order (the registry's choices).
enum class ProbeQuantity { Score, Control };

// The sufficient statistics of ridge regressions that share their features: XᵀX over rows
// [x, 1] and XᵀY over target columns, in float64, one example at a time — exact, and nothing
// but (d + 1)² + (d + 1)·targets numbers is held, however many examples stream through.
class RidgeStats {
 public:
  RidgeStats(int64_t d, int64_t targets);
  // x: [fits, d] (one row per independent fit), y: [fits, targets] or [targets].
  void add(const at::Tensor& x, const at::Tensor& y);
  // [fits, d + 1, targets] (weights, then the bias) minimising
  // ‖Y − X w − b‖² + λ‖w‖² (the bias unpenalised), λ = l2 · n · (the features' mean variance)
  // + 1e-9 · (their mean raw second moment), so features that never vary stay solvable.
  at::Tensor solve(double l2) const;
  int64_t examples() const { return n_; }

 private:
  at::Tensor xtx_, xty_;  // [fits, d + 1, d + 1], [fits, d + 1, targets]
  int64_t d_, targets_, n_ = 0;
};

// The seeded split: a permutation of [0, n), the first round(held_out · n) held out.
struct ProbeSplit {
  std::vector<int64_t> train, held_out;
  std::vector<int64_t> shuffled;  // shuffled[i]: whose label training prompt train[i] gets
};
ProbeSplit probe_split(int64_t n, double held_out, uint64_t seed);

}  // namespace csweep::analyses
