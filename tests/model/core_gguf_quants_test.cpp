// GGML dequantisation, block by block, against the `gguf` Python package: the fixture
// tests/model/fixtures/gguf_quant_blocks.json is written by gguf_tools/make_quant_fixture.py
// (random blocks and gguf-py's float32 results, hex-encoded), so CI needs no Python. Also the
// half/bfloat16 conversions the converter writes with.
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "common/error.h"
#include "model/gguf/ggml_types.h"
#include "model/gguf/half.h"
#include "tests/test_paths.h"

namespace fs = std::filesystem;
using namespace csweep::model::gguf;

namespace {

nlohmann::json fixture() {
  std::ifstream in(csweep::testing::source_path("tests/model/fixtures/gguf_quant_blocks.json"));
  EXPECT_TRUE(in.good());
  return nlohmann::json::parse(in);
}

std::vector<std::byte> from_hex(const std::string& hex) {
  std::vector<std::byte> out(hex.size() / 2);
  for (size_t i = 0; i < out.size(); ++i)
    out[i] = std::byte(std::stoi(hex.substr(2 * i, 2), nullptr, 16));
  return out;
}

}  // namespace

TEST(GgufQuants, EveryBlockEqualsGgufPyBitForBit) {
  nlohmann::json f = fixture();
  ASSERT_GE(f["types"].size(), 11u);
  for (const auto& t : f["types"]) {
    const std::string name = t["name"];
    SCOPED_TRACE(name);
    auto info = ggml_type_info(t["id"].get<uint32_t>());
    ASSERT_TRUE(info);
    EXPECT_EQ(info->name, name);
    EXPECT_TRUE(info->dequantizable);
    auto data = from_hex(t["data_hex"]);
    auto expected_bytes = from_hex(t["expected_f32_hex"]);
    const size_t n = expected_bytes.size() / 4;
    ASSERT_EQ(data.size(), n / info->block_elems * info->block_bytes);
    std::vector<float> got(n);
    dequantize(GgmlType(info->type), data.data(), n, got.data());
    size_t mismatches = 0;
    for (size_t i = 0; i < n; ++i) {
      uint32_t want;
      std::memcpy(&want, expected_bytes.data() + 4 * i, 4);
      if (float_to_bits(got[i]) != want && mismatches++ < 5)
        ADD_FAILURE() << name << " element " << i << " (block " << i / info->block_elems
                      << "): got " << got[i] << ", gguf-py " << bits_to_float(want);
    }
    EXPECT_EQ(mismatches, 0u);
  }
}

TEST(GgufQuants, BlockGeometryMatchesGgufPy) {
  nlohmann::json f = fixture();
  for (const auto& [name, id] : f["type_ids"].items()) {
    SCOPED_TRACE(name);
    auto info = ggml_type_info(id.get<uint32_t>());
    ASSERT_TRUE(info) << "type id " << id << " unknown to csweep";
    EXPECT_EQ(info->name, name);
    const auto& size = f["quant_sizes"][name];
    EXPECT_EQ(info->block_elems, size[0].get<uint32_t>());
    // gguf-py still sizes Q8_1 with two f32 (40 bytes); ggml stores two f16 (36). Q8_1 is an
    // activation type llama.cpp never writes into files.
    if (name != "Q8_1") {
      EXPECT_EQ(info->block_bytes, size[1].get<uint32_t>());
    }
  }
}

TEST(GgufQuants, UnsupportedTypesAreRefusedByName) {
  std::vector<std::byte> block(66);
  std::vector<float> out(256);
  try {
    dequantize(GgmlType::IQ2_XXS, block.data(), 256, out.data());
    FAIL() << "no error";
  } catch (const csweep::Error& e) {
    EXPECT_NE(std::string(e.what()).find("IQ2_XXS is not supported (supported: F32 F16 Q4_0"),
              std::string::npos)
        << e.what();
  }
  EXPECT_EQ(ggml_type_name(4), "type 4");  // Q4_2, removed from ggml
  EXPECT_FALSE(ggml_type_info(4));
}

TEST(GgufHalf, RoundTripsEveryHalfAndRoundsToNearestEven) {
  for (uint32_t h = 0; h < 0x10000; ++h) {
    const float f = half_to_float(uint16_t(h));
    if (std::isnan(f)) {
      EXPECT_TRUE(std::isnan(half_to_float(float_to_half(f))));
      continue;
    }
    ASSERT_EQ(float_to_half(f), h) << std::hex << h;
  }
  // Ties between two halves go to the even one; overflow becomes infinity.
  EXPECT_EQ(float_to_half(1.0f + 1.0f / 2048), 0x3c00);  // halfway 1 and 1+2^-10: even (1)
  EXPECT_EQ(float_to_half(1.0f + 3.0f / 2048), 0x3c02);  // halfway: even (1 + 2^-9)
  EXPECT_EQ(float_to_half(65520.0f), 0x7c00);
  EXPECT_EQ(float_to_half(65519.0f), 0x7bff);
  EXPECT_EQ(float_to_half(std::ldexp(1.0f, -25)), 0x0000);  // halfway 0 and the smallest subnormal
  EXPECT_EQ(float_to_half(std::ldexp(1.5f, -25)), 0x0001);
}

TEST(GgufHalf, Bfloat16RoundsToNearestEven) {
  std::mt19937 rng(7);
  for (int i = 0; i < 100000; ++i) {
    const float f = bits_to_float(rng());
    if (std::isnan(f)) continue;
    const uint16_t b = float_to_bf16(f);
    // The nearest bf16: compare with both neighbours.
    const double err = std::fabs(double(bf16_to_float(b)) - double(f));
    for (int d : {-1, 1}) {
      const float other = bf16_to_float(uint16_t(b + d));
      if (std::isfinite(other) && std::isfinite(bf16_to_float(b))) {
        ASSERT_LE(err, std::fabs(double(other) - double(f)));
      }
    }
  }
  EXPECT_EQ(float_to_bf16(1.0f), 0x3f80);
  EXPECT_EQ(float_to_bf16(bits_to_float(0x3f808000u)), 0x3f80);  // tie -> even
  EXPECT_EQ(float_to_bf16(bits_to_float(0x3f818000u)), 0x3f82);  // tie -> even
}
