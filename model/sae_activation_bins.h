#pragma once
// The SAE feature search's activation histogram (sae_feature_search): fixed bins, the same on
// every rank and for every context, so per-context counts add up to the corpus's exactly. Bins
// are powers of two (activations span orders of magnitude and SAEs differ in scale): bin 0 holds
// firing activations below 2^kLowExp, bin i in 1..kBins-2 holds [2^(kLowExp+i-1),
// 2^(kLowExp+i)), the last bin everything from 2^kHighExp up. Activations <= 0 (not firing) are
// in no bin. Torch-free: the kind's grid, its cells and reduce all read it.
#include <cmath>
#include <string>

namespace csweep::model::sae_bins {

inline constexpr int kLowExp = -5;
inline constexpr int kHighExp = 5;
inline constexpr int kBins = kHighExp - kLowExp + 2;  // 12

// The bin of a firing activation (v > 0).
inline int bin_of(double v) {
  int exp = 0;
  std::frexp(v, &exp);          // v = m * 2^exp with m in [0.5, 1): v in [2^(exp-1), 2^exp)
  const int i = exp - kLowExp;  // v in [2^(exp-1), 2^exp): bin (exp - 1) - kLowExp + 1
  return i < 0 ? 0 : i >= kBins ? kBins - 1 : i;
}

// Bin i covers [lower_edge(i), lower_edge(i + 1)); lower_edge(0) is 0, lower_edge(kBins) inf.
inline double lower_edge(int i) {
  if (i <= 0) return 0.0;
  if (i >= kBins) return INFINITY;
  return std::ldexp(1.0, kLowExp + i - 1);
}

// "bin_00".."bin_11": the quantity names of the bins in the kind's grid.
inline std::string bin_name(int i) {
  std::string name = "bin_";
  if (i < 10) name += '0';
  name += std::to_string(i);
  return name;
}

}  // namespace csweep::model::sae_bins
