#pragma once
// IEEE half and bfloat16 <-> float, bit-exact and torch-free: GGUF blocks carry f16 scales,
// and `csweep convert gguf --dtype` writes bf16/f16 safetensors without linking LibTorch.
// Narrowing rounds to nearest even, as torch's .to(bfloat16/float16) does.
#include <cstdint>
#include <cstring>

namespace csweep::model::gguf {

inline float bits_to_float(uint32_t bits) {
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

inline uint32_t float_to_bits(float f) {
  uint32_t bits;
  std::memcpy(&bits, &f, 4);
  return bits;
}

inline float half_to_float(uint16_t h) {
  const uint32_t sign = uint32_t(h & 0x8000) << 16;
  const uint32_t exp = (h >> 10) & 0x1f;
  uint32_t mant = h & 0x3ff;
  if (exp == 0x1f) return bits_to_float(sign | 0x7f800000u | (mant << 13));  // inf / NaN
  if (exp != 0) return bits_to_float(sign | ((exp + 112) << 23) | (mant << 13));
  if (mant == 0) return bits_to_float(sign);
  // Subnormal: value = mant * 2^-24, exact in float.
  float v = float(mant) * (1.0f / 16777216.0f);
  return sign ? -v : v;
}

inline float bf16_to_float(uint16_t b) { return bits_to_float(uint32_t(b) << 16); }

inline uint16_t float_to_bf16(float f) {
  uint32_t bits = float_to_bits(f);
  if ((bits & 0x7fffffffu) > 0x7f800000u) return uint16_t((bits >> 16) | 0x40);  // quiet NaN
  bits += 0x7fffu + ((bits >> 16) & 1u);
  return uint16_t(bits >> 16);
}

uint16_t float_to_half(float f);  // round to nearest even; overflow -> inf; NaN stays NaN

}  // namespace csweep::model::gguf
