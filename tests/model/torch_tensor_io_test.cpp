// Memory-mapped safetensors entries -> at::Tensor: every dtype bit-exact, conversions equal to
// what torch (python) computed when it wrote the file, slices that read only the slice.
#include <sys/mman.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <string>

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "common/error.h"
#include "model/checkpoint_files.h"
#include "model/safetensors.h"
#include "model/tensor_io.h"
#include "tests/error_of.h"
#include "tests/model/tools/loader_test_data.h"
#include "tests/test_paths.h"

namespace fs = std::filesystem;
using csweep::Error;
using csweep::model::SafetensorsFile;
using csweep::model::TensorEntry;
using csweep::model::to_tensor;
using csweep::model::to_tensor_slice;
using csweep::test::tensor_entry;

namespace {

const fs::path& data_dir() { return csweep::test::loader_data_dir(); }

const at::Device kCpu(at::kCPU);

// Bitwise equality (NaN == NaN, -0 != +0): the round trip must not touch a single bit.
bool same_bits(const at::Tensor& a, const at::Tensor& b) {
  if (a.scalar_type() != b.scalar_type() || a.sizes() != b.sizes()) return false;
  at::Tensor ca = a.contiguous(), cb = b.contiguous();
  return std::memcmp(ca.data_ptr(), cb.data_ptr(), ca.nbytes()) == 0;
}

bool same_bits(const at::Tensor& a, const TensorEntry& raw) {
  at::Tensor ca = a.contiguous();
  return ca.nbytes() == raw.nbytes && std::memcmp(ca.data_ptr(), raw.data, raw.nbytes) == 0;
}

using csweep::testing::error_of;

}  // namespace

TEST(TensorIo, EveryDtypeRoundTripsBitExactly) {
  auto file = SafetensorsFile::open(data_dir() / "valid/dtypes.safetensors");
  for (const char* name : {"f64", "f32", "f16", "bf16", "f64_special", "f32_special", "f16_special",
                           "bf16_special", "i64", "i32", "i16", "i8", "u8", "bool"}) {
    const TensorEntry& e = tensor_entry(*file, name);
    at::Tensor t = to_tensor(e, csweep::model::scalar_type(e.dtype), kCpu);
    EXPECT_EQ(t.sizes().vec(), e.shape) << name;
    EXPECT_TRUE(same_bits(t, e)) << name;
    EXPECT_NE(t.data_ptr(), static_cast<const void*>(e.data))
        << name << ": must not alias the mapping";
  }
  // Raw bits written through torch's int16 view.
  EXPECT_TRUE(
      same_bits(to_tensor(tensor_entry(*file, "bf16"), at::kBFloat16, kCpu).view(at::kShort),
                to_tensor(tensor_entry(*file, "bf16_bits"), at::kShort, kCpu)));
  EXPECT_TRUE(same_bits(to_tensor(tensor_entry(*file, "f16"), at::kHalf, kCpu).view(at::kShort),
                        to_tensor(tensor_entry(*file, "f16_bits"), at::kShort, kCpu)));
}

TEST(TensorIo, ConversionsEqualTorchsOwn) {
  auto file = SafetensorsFile::open(data_dir() / "valid/dtypes.safetensors");
  for (const std::string name :
       {"f64", "f16", "bf16", "f64_special", "f16_special", "bf16_special"}) {
    at::Tensor widened = to_tensor(tensor_entry(*file, name), at::kFloat, kCpu);
    EXPECT_EQ(widened.scalar_type(), at::kFloat);
    EXPECT_TRUE(same_bits(widened, tensor_entry(*file, name + "_as_f32"))) << name;
  }
  // F32 -> BF16 / F16 rounds to nearest even, as torch did in python.
  EXPECT_TRUE(same_bits(to_tensor(tensor_entry(*file, "f32"), at::kBFloat16, kCpu),
                        tensor_entry(*file, "f32_to_bf16")));
  EXPECT_TRUE(same_bits(to_tensor(tensor_entry(*file, "f32"), at::kHalf, kCpu),
                        tensor_entry(*file, "f32_to_f16")));
  at::Tensor ints = to_tensor(tensor_entry(*file, "i32"), at::kLong, kCpu);
  EXPECT_EQ(ints[1][0].item<int64_t>(), -128000);
  at::Tensor bools = to_tensor(tensor_entry(*file, "bool"), at::kFloat, kCpu);
  EXPECT_TRUE(at::equal(bools, at::tensor({1.0f, 0.0f, 1.0f})));
}

TEST(TensorIo, TensorsOutliveTheMapping) {
  at::Tensor t;
  {
    auto file = SafetensorsFile::open(data_dir() / "valid/dtypes.safetensors");
    t = to_tensor(tensor_entry(*file, "f32"), at::kFloat, kCpu);
  }
  auto again = SafetensorsFile::open(data_dir() / "valid/dtypes.safetensors");
  EXPECT_TRUE(same_bits(t, tensor_entry(*again, "f32")));
}

TEST(TensorIo, UnalignedFileGivesTheSameTensors) {
  auto file = SafetensorsFile::open(data_dir() / "valid/unaligned.safetensors");
  auto reference = SafetensorsFile::open(data_dir() / "valid/dtypes.safetensors");
  ASSERT_NE(reinterpret_cast<uintptr_t>(tensor_entry(*file, "f32").data) % 4, 0u);
  EXPECT_TRUE(same_bits(to_tensor(tensor_entry(*file, "f32"), at::kFloat, kCpu),
                        tensor_entry(*reference, "f32")));
  EXPECT_TRUE(same_bits(to_tensor(tensor_entry(*file, "bf16"), at::kFloat, kCpu),
                        tensor_entry(*reference, "bf16_as_f32")));
  EXPECT_TRUE(same_bits(to_tensor(tensor_entry(*file, "f16"), at::kFloat, kCpu),
                        tensor_entry(*reference, "f16_as_f32")));
  EXPECT_TRUE(at::equal(to_tensor(tensor_entry(*file, "i64"), at::kLong, kCpu),
                        at::arange(6).reshape({2, 3})));
  // and sliced along the last dim, with a dtype change
  at::Tensor full = to_tensor(tensor_entry(*reference, "bf16"), at::kFloat, kCpu);
  EXPECT_TRUE(same_bits(to_tensor_slice(tensor_entry(*file, "bf16"), 1, 1, 3, at::kFloat, kCpu),
                        full.narrow(1, 1, 3).contiguous()));
}

TEST(TensorIo, ScalarAndZeroSizedTensors) {
  auto file = SafetensorsFile::open(data_dir() / "valid/edge.safetensors");
  at::Tensor scalar = to_tensor(tensor_entry(*file, "scalar"), at::kFloat, kCpu);
  EXPECT_EQ(scalar.dim(), 0);
  EXPECT_EQ(scalar.item<float>(), 2.5f);
  at::Tensor empty = to_tensor(tensor_entry(*file, "empty"), at::kBFloat16, kCpu);
  EXPECT_EQ(empty.sizes().vec(), (std::vector<int64_t>{0, 4}));
  EXPECT_EQ(to_tensor(tensor_entry(*file, "empty2"), at::kFloat, kCpu).sizes().vec(),
            (std::vector<int64_t>{3, 0}));
  EXPECT_TRUE(at::equal(to_tensor(tensor_entry(*file, "after_gap"), at::kFloat, kCpu),
                        at::tensor({1.0f, 2.0f})));
}

TEST(TensorIo, SlicesAlongEveryDim) {
  auto file = SafetensorsFile::open(data_dir() / "valid/slice.safetensors");
  const TensorEntry& m = tensor_entry(*file, "m");
  at::Tensor expected = at::arange(8 * 4096, at::kFloat).reshape({8, 4096});
  EXPECT_TRUE(at::equal(to_tensor_slice(m, 0, 2, 3, at::kFloat, kCpu), expected.narrow(0, 2, 3)));
  at::Tensor cols = to_tensor_slice(m, 1, 100, 50, at::kFloat, kCpu);
  EXPECT_TRUE(cols.is_contiguous());
  EXPECT_TRUE(at::equal(cols, expected.narrow(1, 100, 50)));
  at::Tensor bf16 = to_tensor_slice(m, 1, 4000, 96, at::kBFloat16, kCpu);
  EXPECT_TRUE(at::equal(bf16, expected.narrow(1, 4000, 96).to(at::kBFloat16)));
  EXPECT_EQ(to_tensor_slice(m, 0, 8, 0, at::kFloat, kCpu).sizes().vec(),
            (std::vector<int64_t>{0, 4096}));
}

// Every page of the mapping outside the slice is made unreadable: any read of it would crash.
TEST(TensorIo, SliceReadsOnlyTheSlicesBytes) {
  auto file = SafetensorsFile::open(data_dir() / "valid/slice.safetensors");
  const TensorEntry& m = tensor_entry(*file, "m");
  const size_t page = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
  const size_t row = 4096 * sizeof(float);
  ASSERT_EQ(reinterpret_cast<uintptr_t>(m.data) % page, 0u);
  ASSERT_EQ(row % page, 0u);
  auto* base = const_cast<std::byte*>(m.data);
  ASSERT_EQ(::mprotect(base, 2 * row, PROT_NONE), 0);
  ASSERT_EQ(::mprotect(base + 5 * row, 3 * row, PROT_NONE), 0);
  at::Tensor rows = to_tensor_slice(m, 0, 2, 3, at::kBFloat16, kCpu);
  // The protection is real: reading the whole tensor dies.
  EXPECT_DEATH(to_tensor(m, at::kFloat, kCpu), "");
  ASSERT_EQ(::mprotect(base, 8 * row, PROT_READ), 0);
  EXPECT_TRUE(at::equal(
      rows, at::arange(2 * 4096, 5 * 4096, at::kFloat).reshape({3, 4096}).to(at::kBFloat16)));
}

TEST(TensorIo, BadSlicesAreRefused) {
  auto file = SafetensorsFile::open(data_dir() / "valid/slice.safetensors");
  const TensorEntry& m = tensor_entry(*file, "m");
  const std::string prefix = (data_dir() / "valid/slice.safetensors").string() + ": tensor 'm': ";
  EXPECT_EQ(error_of([&] { to_tensor_slice(m, 2, 0, 1, at::kFloat, kCpu); }),
            prefix + "slice dim 2 is out of range for shape [8,4096]");
  EXPECT_EQ(error_of([&] { to_tensor_slice(m, 0, 6, 3, at::kFloat, kCpu); }),
            prefix + "slice [6, 9) of dim 0 is out of range for shape [8,4096]");
  EXPECT_EQ(error_of([&] { to_tensor_slice(m, 1, -1, 3, at::kFloat, kCpu); }),
            prefix + "slice [-1, 2) of dim 1 is out of range for shape [8,4096]");
  auto edge = SafetensorsFile::open(data_dir() / "valid/edge.safetensors");
  EXPECT_EQ(
      error_of([&] { to_tensor_slice(tensor_entry(*edge, "scalar"), 0, 0, 2, at::kFloat, kCpu); }),
      (data_dir() / "valid/edge.safetensors").string() +
          ": tensor 'scalar': slice of a 0-dimensional tensor");
}

TEST(TensorIo, ShardedCheckpointLoadsLikeTheSingleFile) {
  auto single = csweep::model::CheckpointFiles::open(data_dir() / "single");
  auto sharded = csweep::model::CheckpointFiles::open(data_dir() / "sharded");
  for (const auto& name : single.names()) {
    at::Tensor a = to_tensor(*single.find(name), at::kFloat, kCpu);
    at::Tensor b = to_tensor(*sharded.find(name), at::kFloat, kCpu);
    EXPECT_TRUE(same_bits(a, b)) << name;
  }
}

TEST(TensorIo, Gpt2TinyWeightsLoad) {
  auto ckpt = csweep::model::CheckpointFiles::open(csweep::testing::shared_fixture("gpt2-tiny"));
  at::Tensor wte = to_tensor(*ckpt.find("wte.weight"), at::kFloat, kCpu);
  EXPECT_EQ(wte.sizes().vec(), (std::vector<int64_t>{1000, 64}));
  EXPECT_TRUE(at::isfinite(wte).all().item<bool>());
  EXPECT_GT(wte.abs().sum().item<float>(), 0.0f);  // 0.5·N entries, never a silent zero
  // c_attn columns [Q | K | V]: the K block as a slice equals the full tensor's K block
  const TensorEntry& c_attn = *ckpt.find("h.1.attn.c_attn.weight");
  EXPECT_TRUE(at::equal(to_tensor_slice(c_attn, 1, 64, 64, at::kFloat, kCpu),
                        to_tensor(c_attn, at::kFloat, kCpu).narrow(1, 64, 64)));
}

TEST(TensorIo, ComputeDtypeCheck) {
  using csweep::model::check_compute_dtype;
  EXPECT_EQ(error_of([] { check_compute_dtype(at::kHalf, at::Device(at::kCPU)); }),
            "float16 compute runs on GPUs only (LibTorch's CPU half kernels are slow and untested "
            "here); use "
            "float32 or bfloat16 on CPU (F16 weights are converted)");
  EXPECT_EQ(error_of([] { check_compute_dtype(at::kLong, at::Device(at::kCPU)); }),
            "compute dtype Long is not a floating-point type; use float32, bfloat16 or float16");
  EXPECT_NO_THROW(check_compute_dtype(at::kFloat, at::Device(at::kCPU)));
  EXPECT_NO_THROW(check_compute_dtype(at::kBFloat16, at::Device(at::kCPU)));
  EXPECT_NO_THROW(check_compute_dtype(at::kDouble, at::Device(at::kCPU)));
  EXPECT_NO_THROW(check_compute_dtype(at::kHalf, at::Device("cuda:1")));  // a GPU computes fp16
}
