#include "model/gguf/half.h"

#include <cmath>

namespace csweep::model::gguf {

uint16_t float_to_half(float f) {
  const uint32_t x = float_to_bits(f);
  const uint16_t sign = uint16_t((x >> 16) & 0x8000u);
  uint32_t ax = x & 0x7fffffffu;
  if (ax > 0x7f800000u) return sign | 0x7e00u;   // NaN
  if (ax >= 0x477ff000u) return sign | 0x7c00u;  // >= 65520 rounds to infinity
  if (ax < 0x38800000u) {                        // below 2^-14: a subnormal half (or zero)
    // a * 2^24 is exact in float; nearbyint rounds half to even in the default mode. 1024
    // comes out as 0x0400, the smallest normal half, which is the right answer.
    return sign | uint16_t(std::nearbyint(bits_to_float(ax) * 16777216.0f));
  }
  // Re-bias the exponent (127 -> 15) and round the 13 dropped mantissa bits to nearest even;
  // a carry out of the mantissa correctly bumps the exponent.
  ax += 0xc8000fffu + ((ax >> 13) & 1u);  // 0xc8000000 == -(112 << 23) mod 2^32
  return sign | uint16_t(ax >> 13);
}

}  // namespace csweep::model::gguf
