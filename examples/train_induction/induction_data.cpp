#include "induction_data.h"

#include <algorithm>

namespace csweep::examples {

InductionBatch make_induction_batch(std::mt19937_64& rng, int64_t batch,
                                    const InductionDataOptions& o) {
  InductionBatch b;
  b.batch = batch;
  b.seq = o.seq;
  b.tokens.assign(size_t(batch * o.seq), 0);
  b.repeated.assign(size_t(batch * o.seq), 0);
  std::uniform_int_distribution<int64_t> token(0, o.vocab - 1);
  for (int64_t r = 0; r < batch; ++r) {
    int64_t* row = &b.tokens[size_t(r * o.seq)];
    uint8_t* rep = &b.repeated[size_t(r * o.seq)];
    for (int64_t i = 0; i < o.seq; ++i) row[i] = token(rng);
    int64_t len = std::uniform_int_distribution<int64_t>(o.min_segment, o.max_segment)(rng);
    int64_t gap = o.gap_parity < 0 ? std::uniform_int_distribution<int64_t>(0, o.max_gap)(rng)
                                   : o.gap_parity + 2 * std::uniform_int_distribution<int64_t>(
                                                            0, (o.max_gap - o.gap_parity) / 2)(rng);
    int64_t prefix = std::uniform_int_distribution<int64_t>(
        0, std::max<int64_t>(0, std::min(o.max_prefix, o.seq - 4 - len - gap)))(rng);
    int64_t second = prefix + len + gap;
    for (int64_t i = 0; i < len && second + i < o.seq; ++i) {
      row[second + i] = row[prefix + i];
      // The first token of the repeat is not predictable; the rest are, by induction.
      if (i > 0) rep[second + i] = 1;
    }
  }
  return b;
}

}  // namespace csweep::examples
