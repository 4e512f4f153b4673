#pragma once
// ggml's tensor types as GGUF stores them (ggml.h's enum ggml_type): the block geometry of
// every type llama.cpp defines, so the reader can bound each tensor's bytes whatever its type,
// and dequantisation to float for the types csweep converts. Torch-free; the block layouts
// follow ggml-quants.c (dequantize_row_*) and are checked block by block against the `gguf`
// Python package (tests/model/core_gguf_quants_test.cpp).
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

namespace csweep::model::gguf {

enum class GgmlType : uint32_t {
  F32 = 0,
  F16 = 1,
  Q4_0 = 2,
  Q4_1 = 3,
  Q5_0 = 6,
  Q5_1 = 7,
  Q8_0 = 8,
  Q8_1 = 9,
  Q2_K = 10,
  Q3_K = 11,
  Q4_K = 12,
  Q5_K = 13,
  Q6_K = 14,
  Q8_K = 15,
  IQ2_XXS = 16,
  IQ2_XS = 17,
  IQ3_XXS = 18,
  IQ1_S = 19,
  IQ4_NL = 20,
  IQ3_S = 21,
  IQ2_S = 22,
  IQ4_XS = 23,
  I8 = 24,
  I16 = 25,
  I32 = 26,
  I64 = 27,
  F64 = 28,
  IQ1_M = 29,
  BF16 = 30,
  TQ1_0 = 34,
  TQ2_0 = 35,
  MXFP4 = 39,
  NVFP4 = 40,
  Q1_0 = 41,
};

struct GgmlTypeInfo {
  GgmlType type;
  const char* name;      // "Q4_K"
  uint32_t block_elems;  // elements per block (1 for plain types)
  uint32_t block_bytes;  // bytes per block
  bool dequantizable;    // csweep can turn it into float
};

// nullopt for an id ggml does not define (or has removed).
std::optional<GgmlTypeInfo> ggml_type_info(uint32_t type_id);
// "Q4_K", or "type 123" for an unknown id.
std::string ggml_type_name(uint32_t type_id);
// The types dequantize() accepts, for error messages: "F32 F16 BF16 Q8_0 ...".
std::string dequantizable_type_names();

// Dequantises n elements (a multiple of the type's block_elems) from `blocks` into `out`.
// The caller has checked that `blocks` holds n / block_elems * block_bytes bytes; throws
// csweep::Error (no file context: the caller adds it) for a type that is not dequantizable.
void dequantize(GgmlType type, const std::byte* blocks, size_t n, float* out);

}  // namespace csweep::model::gguf
