#pragma once
// Training and held-out sequences for the bundled induction model. In-context copying pays
// only where a segment repeats; everything else is uniform noise. The repeat's start, gap and
// length all vary, so the only general solution is a previous-token head feeding an
// induction head — a fixed offset would let one positional head solve it (measured while
// planning: attention 0.93 to "offset - 1", no induction circuit).
#include <cstdint>
#include <random>
#include <vector>

namespace csweep::examples {

struct InductionBatch {
  std::vector<int64_t> tokens;     // [batch, seq] row-major
  std::vector<uint8_t> repeated;   // [batch, seq]: 1 where the token continues a repeat (predictable)
  int64_t batch = 0, seq = 0;
};

struct InductionDataOptions {
  int64_t seq = 64;
  int64_t vocab = 256;
  int64_t min_segment = 4, max_segment = 16;
  int64_t max_prefix = 12, max_gap = 12;
};

// Each row: [random prefix][segment A][random gap][A again][random tail], truncated to seq.
InductionBatch make_induction_batch(std::mt19937_64& rng, int64_t batch, const InductionDataOptions& options);

}  // namespace csweep::examples
