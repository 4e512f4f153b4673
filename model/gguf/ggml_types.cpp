#include "model/gguf/ggml_types.h"

#include <cstring>

#include "common/error.h"
#include "model/gguf/half.h"

namespace csweep::model::gguf {
namespace {

constexpr uint32_t QK_K = 256;  // elements of a k-quant super-block

// Block sizes from ggml-common.h, checked against gguf-py's GGML_QUANT_SIZES by the tests. Q8_1
// differs on purpose: gguf-py still says 40 bytes (two f32), ggml stores two f16 (36 bytes).
constexpr GgmlTypeInfo kTypes[] = {
    {GgmlType::F32, "F32", 1, 4, true},
    {GgmlType::F16, "F16", 1, 2, true},
    {GgmlType::Q4_0, "Q4_0", 32, 18, true},
    {GgmlType::Q4_1, "Q4_1", 32, 20, true},
    {GgmlType::Q5_0, "Q5_0", 32, 22, true},
    {GgmlType::Q5_1, "Q5_1", 32, 24, true},
    {GgmlType::Q8_0, "Q8_0", 32, 34, true},
    {GgmlType::Q8_1, "Q8_1", 32, 36, false},
    {GgmlType::Q2_K, "Q2_K", QK_K, 84, false},
    {GgmlType::Q3_K, "Q3_K", QK_K, 110, false},
    {GgmlType::Q4_K, "Q4_K", QK_K, 144, true},
    {GgmlType::Q5_K, "Q5_K", QK_K, 176, true},
    {GgmlType::Q6_K, "Q6_K", QK_K, 210, true},
    {GgmlType::Q8_K, "Q8_K", QK_K, 292, false},
    {GgmlType::IQ2_XXS, "IQ2_XXS", QK_K, 66, false},
    {GgmlType::IQ2_XS, "IQ2_XS", QK_K, 74, false},
    {GgmlType::IQ3_XXS, "IQ3_XXS", QK_K, 98, false},
    {GgmlType::IQ1_S, "IQ1_S", QK_K, 50, false},
    {GgmlType::IQ4_NL, "IQ4_NL", 32, 18, false},
    {GgmlType::IQ3_S, "IQ3_S", QK_K, 110, false},
    {GgmlType::IQ2_S, "IQ2_S", QK_K, 82, false},
    {GgmlType::IQ4_XS, "IQ4_XS", QK_K, 136, false},
    {GgmlType::I8, "I8", 1, 1, false},
    {GgmlType::I16, "I16", 1, 2, false},
    {GgmlType::I32, "I32", 1, 4, false},
    {GgmlType::I64, "I64", 1, 8, false},
    {GgmlType::F64, "F64", 1, 8, false},
    {GgmlType::IQ1_M, "IQ1_M", QK_K, 56, false},
    {GgmlType::BF16, "BF16", 1, 2, true},
    {GgmlType::TQ1_0, "TQ1_0", QK_K, 54, false},
    {GgmlType::TQ2_0, "TQ2_0", QK_K, 66, false},
    {GgmlType::MXFP4, "MXFP4", 32, 17, false},
    {GgmlType::NVFP4, "NVFP4", 64, 36, false},
    {GgmlType::Q1_0, "Q1_0", 128, 18, false},
};

uint16_t u16(const std::byte* p) { return uint16_t(uint16_t(p[0]) | uint16_t(p[1]) << 8); }
float f16(const std::byte* p) { return half_to_float(u16(p)); }
const uint8_t* bytes(const std::byte* p) { return reinterpret_cast<const uint8_t*>(p); }

// The arithmetic below keeps ggml's operation order (scale products first, then times the
// quant, then the offset) so results equal ggml's and gguf-py's bit for bit in float.

void q4_0(const std::byte* b, float* y) {  // f16 d; 16 bytes of nibbles: low halves first
  const float d = f16(b);
  const uint8_t* qs = bytes(b + 2);
  for (int j = 0; j < 16; ++j) {
    y[j] = float(int(qs[j] & 0xf) - 8) * d;
    y[j + 16] = float(int(qs[j] >> 4) - 8) * d;
  }
}

void q4_1(const std::byte* b, float* y) {  // f16 d, f16 m; x = q * d + m
  const float d = f16(b), m = f16(b + 2);
  const uint8_t* qs = bytes(b + 4);
  for (int j = 0; j < 16; ++j) {
    y[j] = float(qs[j] & 0xf) * d + m;
    y[j + 16] = float(qs[j] >> 4) * d + m;
  }
}

uint32_t u32(const std::byte* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);  // little-endian hosts only (GGUF is little-endian; so is x86/arm64 Linux)
  return v;
}

void q5_0(const std::byte* b, float* y) {  // f16 d; 32 high bits; 16 bytes of low nibbles
  const float d = f16(b);
  const uint32_t qh = u32(b + 2);
  const uint8_t* qs = bytes(b + 6);
  for (int j = 0; j < 16; ++j) {
    const int h0 = int(((qh >> j) << 4) & 0x10), h1 = int((qh >> (j + 12)) & 0x10);
    y[j] = float((int(qs[j] & 0xf) | h0) - 16) * d;
    y[j + 16] = float((int(qs[j] >> 4) | h1) - 16) * d;
  }
}

void q5_1(const std::byte* b, float* y) {
  const float d = f16(b), m = f16(b + 2);
  const uint32_t qh = u32(b + 4);
  const uint8_t* qs = bytes(b + 8);
  for (int j = 0; j < 16; ++j) {
    const int h0 = int(((qh >> j) << 4) & 0x10), h1 = int((qh >> (j + 12)) & 0x10);
    y[j] = float(int(qs[j] & 0xf) | h0) * d + m;
    y[j + 16] = float(int(qs[j] >> 4) | h1) * d + m;
  }
}

void q8_0(const std::byte* b, float* y) {  // f16 d; 32 signed bytes
  const float d = f16(b);
  for (int j = 0; j < 32; ++j) y[j] = float(int8_t(b[2 + j])) * d;
}

// Q4_K/Q5_K pack eight 6-bit (scale, min) pairs into 12 bytes (ggml's get_scale_min_k4).
void scale_min_k4(int j, const uint8_t* q, uint8_t* sc, uint8_t* m) {
  if (j < 4) {
    *sc = q[j] & 63;
    *m = q[j + 4] & 63;
  } else {
    *sc = uint8_t((q[j + 4] & 0xf) | ((q[j - 4] >> 6) << 4));
    *m = uint8_t((q[j + 4] >> 4) | ((q[j] >> 6) << 4));
  }
}

void q4_k(const std::byte* b, float* y) {  // f16 d, f16 dmin, scales[12], qs[128]
  const float d = f16(b), dmin = f16(b + 2);
  const uint8_t* scales = bytes(b + 4);
  const uint8_t* q = bytes(b + 16);
  for (int j = 0, is = 0; j < int(QK_K); j += 64, is += 2, q += 32) {
    uint8_t sc, m;
    scale_min_k4(is, scales, &sc, &m);
    const float d1 = d * float(sc), m1 = dmin * float(m);
    scale_min_k4(is + 1, scales, &sc, &m);
    const float d2 = d * float(sc), m2 = dmin * float(m);
    for (int l = 0; l < 32; ++l) *y++ = d1 * float(q[l] & 0xf) - m1;
    for (int l = 0; l < 32; ++l) *y++ = d2 * float(q[l] >> 4) - m2;
  }
}

void q5_k(const std::byte* b, float* y) {  // f16 d, f16 dmin, scales[12], qh[32], qs[128]
  const float d = f16(b), dmin = f16(b + 2);
  const uint8_t* scales = bytes(b + 4);
  const uint8_t* qh = bytes(b + 16);
  const uint8_t* ql = bytes(b + 48);
  uint8_t u1 = 1, u2 = 2;
  for (int j = 0, is = 0; j < int(QK_K); j += 64, is += 2, ql += 32, u1 <<= 2, u2 <<= 2) {
    uint8_t sc, m;
    scale_min_k4(is, scales, &sc, &m);
    const float d1 = d * float(sc), m1 = dmin * float(m);
    scale_min_k4(is + 1, scales, &sc, &m);
    const float d2 = d * float(sc), m2 = dmin * float(m);
    for (int l = 0; l < 32; ++l) *y++ = d1 * float((ql[l] & 0xf) + ((qh[l] & u1) ? 16 : 0)) - m1;
    for (int l = 0; l < 32; ++l) *y++ = d2 * float((ql[l] >> 4) + ((qh[l] & u2) ? 16 : 0)) - m2;
  }
}

void q6_k(const std::byte* b, float* y) {  // ql[128], qh[64], int8 scales[16], f16 d
  const uint8_t* ql = bytes(b);
  const uint8_t* qh = bytes(b + 128);
  const int8_t* sc = reinterpret_cast<const int8_t*>(b + 192);
  const float d = f16(b + 208);
  for (int n = 0; n < int(QK_K); n += 128, y += 128, ql += 64, qh += 32, sc += 8) {
    for (int l = 0; l < 32; ++l) {
      const int is = l / 16;
      const int q1 = int((ql[l] & 0xf) | (((qh[l] >> 0) & 3) << 4)) - 32;
      const int q2 = int((ql[l + 32] & 0xf) | (((qh[l] >> 2) & 3) << 4)) - 32;
      const int q3 = int((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
      const int q4 = int((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
      y[l] = d * float(sc[is]) * float(q1);
      y[l + 32] = d * float(sc[is + 2]) * float(q2);
      y[l + 64] = d * float(sc[is + 4]) * float(q3);
      y[l + 96] = d * float(sc[is + 6]) * float(q4);
    }
  }
}

}  // namespace

std::optional<GgmlTypeInfo> ggml_type_info(uint32_t type_id) {
  for (const GgmlTypeInfo& t : kTypes)
    if (uint32_t(t.type) == type_id) return t;
  return std::nullopt;
}

std::string ggml_type_name(uint32_t type_id) {
  auto info = ggml_type_info(type_id);
  return info ? info->name : "type " + std::to_string(type_id);
}

std::string dequantizable_type_names() {
  std::string s;
  for (const GgmlTypeInfo& t : kTypes)
    if (t.dequantizable) s += (s.empty() ? "" : " ") + std::string(t.name);
  return s;
}

void dequantize(GgmlType type, const std::byte* blocks, size_t n, float* out) {
  const auto info = ggml_type_info(uint32_t(type));
  if (!info || !info->dequantizable)
    throw Error("quantisation type " + ggml_type_name(uint32_t(type)) +
                " is not supported (supported: " + dequantizable_type_names() + ")");
  switch (type) {
    case GgmlType::F32:
      std::memcpy(out, blocks, n * 4);
      return;
    case GgmlType::F16:
      for (size_t i = 0; i < n; ++i) out[i] = f16(blocks + 2 * i);
      return;
    case GgmlType::BF16:
      for (size_t i = 0; i < n; ++i) out[i] = bf16_to_float(u16(blocks + 2 * i));
      return;
    default:
      break;
  }
  void (*block_fn)(const std::byte*, float*) = nullptr;
  switch (type) {
    case GgmlType::Q4_0:
      block_fn = q4_0;
      break;
    case GgmlType::Q4_1:
      block_fn = q4_1;
      break;
    case GgmlType::Q5_0:
      block_fn = q5_0;
      break;
    case GgmlType::Q5_1:
      block_fn = q5_1;
      break;
    case GgmlType::Q8_0:
      block_fn = q8_0;
      break;
    case GgmlType::Q4_K:
      block_fn = q4_k;
      break;
    case GgmlType::Q5_K:
      block_fn = q5_k;
      break;
    case GgmlType::Q6_K:
      block_fn = q6_k;
      break;
    default:
      throw Error("internal: no dequantiser for " + ggml_type_name(uint32_t(type)));
  }
  const size_t nb = n / info->block_elems;
  for (size_t i = 0; i < nb; ++i)
    block_fn(blocks + i * info->block_bytes, out + i * info->block_elems);
}

}  // namespace csweep::model::gguf
