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
  std::vector<int64_t> tokens;  // [batch, seq] row-major
  std::vector<uint8_t>
      repeated;  // [batch, seq]: 1 where the token continues a repeat (predictable)
  int64_t batch = 0, seq = 0;
};

struct InductionDataOptions {
  int64_t seq = 64;
  int64_t vocab = 256;
  int64_t min_segment = 4, max_segment = 16;
  int64_t max_prefix = 12, max_gap = 12;
  // Parity of the gap between the copies: 0 even, 1 odd, -1 any. Training draws even gaps
  // only, so held-out odd gaps are sequences training never produced. (The segment length
  // takes every value, so the copy distance has either parity: no parity shortcut. A split
  // by the parity of the distance itself was tried first and handed the model exactly that
  // shortcut — attend to positions of the answer's parity — and the circuit never formed.)
  int gap_parity = -1;
};

// Each row: [random prefix][segment A][random gap][A again][random tail], truncated to seq.
// The prefix is capped so that at least 4 tokens of the second copy fit in the row.
InductionBatch make_induction_batch(std::mt19937_64& rng, int64_t batch,
                                    const InductionDataOptions& options);

}  // namespace csweep::examples
