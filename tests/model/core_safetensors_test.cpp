// The safetensors reader and checkpoint folders (torch-free). Input files are written by
// tests/model/tools/make_safetensors.py, which writes the format by hand.
#include <unistd.h>
#include <cstring>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "common/error.h"
#include "model/checkpoint_files.h"
#include "model/safetensors.h"
#include "tests/error_of.h"
#include "tests/model/tools/loader_test_data.h"
#include "tests/test_paths.h"

namespace fs = std::filesystem;
using csweep::Error;
using csweep::model::CheckpointFiles;
using csweep::model::DType;
using csweep::model::SafetensorsFile;
using csweep::model::TensorEntry;
using csweep::test::tensor_entry;

namespace {

const fs::path& data_dir() { return csweep::test::loader_data_dir(); }

const fs::path kGpt2Tiny = csweep::testing::shared_fixture("gpt2-tiny");

using csweep::testing::error_of;

std::vector<float> floats_of(const TensorEntry& entry) {
  std::vector<float> out(entry.nbytes / 4);
  std::memcpy(out.data(), entry.data, entry.nbytes);
  return out;
}

bool same_bytes(const TensorEntry& a, const TensorEntry& b) {
  return a.nbytes == b.nbytes && std::memcmp(a.data, b.data, a.nbytes) == 0;
}

}  // namespace

TEST(Safetensors, DtypeNamesAndSizes) {
  struct Case {
    const char* name;
    DType dtype;
    size_t size;
  };
  for (const Case& c : std::vector<Case>{{"F64", DType::F64, 8},
                                         {"F32", DType::F32, 4},
                                         {"F16", DType::F16, 2},
                                         {"BF16", DType::BF16, 2},
                                         {"I64", DType::I64, 8},
                                         {"I32", DType::I32, 4},
                                         {"I16", DType::I16, 2},
                                         {"I8", DType::I8, 1},
                                         {"U8", DType::U8, 1},
                                         {"BOOL", DType::BOOL, 1}}) {
    DType parsed;
    ASSERT_TRUE(csweep::model::parse_dtype(c.name, &parsed)) << c.name;
    EXPECT_EQ(parsed, c.dtype);
    EXPECT_EQ(csweep::model::dtype_size(c.dtype), c.size);
    EXPECT_STREQ(csweep::model::dtype_name(c.dtype), c.name);
  }
  DType unused;
  EXPECT_FALSE(csweep::model::parse_dtype("F8_E4M3", &unused));
  EXPECT_FALSE(csweep::model::parse_dtype("f32", &unused));
}

TEST(Safetensors, ReadsEveryDtypeWithItsShape) {
  auto file = SafetensorsFile::open(data_dir() / "valid/dtypes.safetensors");
  struct Case {
    const char* name;
    DType dtype;
    std::vector<int64_t> shape;
  };
  for (const Case& c : std::vector<Case>{{"f64", DType::F64, {3, 5}},
                                         {"f32", DType::F32, {3, 5}},
                                         {"f16", DType::F16, {3, 5}},
                                         {"bf16", DType::BF16, {3, 5}},
                                         {"f32_special", DType::F32, {12}},
                                         {"i64", DType::I64, {5}},
                                         {"i32", DType::I32, {2, 4}},
                                         {"i16", DType::I16, {2, 4}},
                                         {"i8", DType::I8, {2, 4}},
                                         {"u8", DType::U8, {4}},
                                         {"bool", DType::BOOL, {3}}}) {
    const TensorEntry& e = tensor_entry(*file, c.name);
    EXPECT_EQ(e.dtype, c.dtype) << c.name;
    EXPECT_EQ(e.shape, c.shape) << c.name;
    EXPECT_EQ(e.nbytes, e.numel() * csweep::model::dtype_size(c.dtype)) << c.name;
    EXPECT_EQ(e.file, (data_dir() / "valid/dtypes.safetensors").string());
  }
  // Values, through the raw bytes: written by torch, read back without it.
  const TensorEntry& i64 = tensor_entry(*file, "i64");
  int64_t ints[5];
  std::memcpy(ints, i64.data, sizeof ints);
  EXPECT_EQ(ints[1], 1);
  EXPECT_EQ(ints[2], -1);
  EXPECT_EQ(ints[3], int64_t{1} << 62);
  EXPECT_EQ(ints[4], INT64_MIN);
  const TensorEntry& u8 = tensor_entry(*file, "u8");
  EXPECT_EQ(std::vector<uint8_t>(reinterpret_cast<const uint8_t*>(u8.data),
                                 reinterpret_cast<const uint8_t*>(u8.data) + 4),
            (std::vector<uint8_t>{0, 1, 128, 255}));
}

TEST(Safetensors, HalfTypesHoldTheBitsTorchWrote) {
  auto file = SafetensorsFile::open(data_dir() / "valid/dtypes.safetensors");
  EXPECT_TRUE(same_bytes(tensor_entry(*file, "bf16"), tensor_entry(*file, "bf16_bits")));
  EXPECT_TRUE(same_bytes(tensor_entry(*file, "f16"), tensor_entry(*file, "f16_bits")));
  EXPECT_TRUE(same_bytes(tensor_entry(*file, "f32"), tensor_entry(*file, "f32_as_f32")));
  // BF16 is the top half of an F32: widening by hand must give torch's F32 exactly.
  for (const char* name : {"bf16", "bf16_special"}) {
    const TensorEntry& bf16 = tensor_entry(*file, name);
    const std::vector<float> expected =
        floats_of(tensor_entry(*file, std::string(name) + "_as_f32"));
    ASSERT_EQ(static_cast<size_t>(bf16.numel()), expected.size());
    for (int64_t i = 0; i < bf16.numel(); ++i) {
      uint16_t half;
      std::memcpy(&half, bf16.data + 2 * i, 2);
      const uint32_t bits = uint32_t{half} << 16;
      uint32_t want;
      std::memcpy(&want, &expected[i], 4);
      EXPECT_EQ(bits, want) << name << "[" << i << "]";
    }
  }
}

TEST(Safetensors, EdgeCasesZeroSizedScalarMetadataAndGaps) {
  auto file = SafetensorsFile::open(data_dir() / "valid/edge.safetensors");
  EXPECT_EQ(file->tensors().size(), 5u);
  EXPECT_EQ(tensor_entry(*file, "empty").shape, (std::vector<int64_t>{0, 4}));
  EXPECT_EQ(tensor_entry(*file, "empty").nbytes, 0u);
  EXPECT_EQ(tensor_entry(*file, "empty2").dtype, DType::BF16);
  EXPECT_EQ(tensor_entry(*file, "empty2").nbytes, 0u);
  EXPECT_EQ(tensor_entry(*file, "no_dims_empty").numel(), 0);
  const TensorEntry& scalar = tensor_entry(*file, "scalar");
  EXPECT_TRUE(scalar.shape.empty());
  EXPECT_EQ(scalar.numel(), 1);
  EXPECT_EQ(floats_of(scalar), std::vector<float>{2.5f});
  EXPECT_EQ(floats_of(tensor_entry(*file, "after_gap")), (std::vector<float>{1.0f, 2.0f}));
  EXPECT_EQ(file->metadata().at("format"), "pt");
  EXPECT_EQ(file->metadata().at("note"), "edge cases");
  EXPECT_EQ(file->find("__metadata__"), nullptr);
  EXPECT_EQ(file->find("missing"), nullptr);
}

TEST(Safetensors, UnalignedDataSectionIsReadable) {
  auto file = SafetensorsFile::open(data_dir() / "valid/unaligned.safetensors");
  auto reference = SafetensorsFile::open(data_dir() / "valid/dtypes.safetensors");
  const TensorEntry& f32 = tensor_entry(*file, "f32");
  EXPECT_NE(reinterpret_cast<uintptr_t>(f32.data) % 2, 0u)
      << "the data section should start at an odd byte";
  EXPECT_TRUE(same_bytes(f32, tensor_entry(*reference, "f32")));
  EXPECT_TRUE(same_bytes(tensor_entry(*file, "bf16"), tensor_entry(*reference, "bf16")));
}

TEST(Safetensors, Gpt2TinyFixture) {
  auto file = SafetensorsFile::open(kGpt2Tiny / "model.safetensors");
  EXPECT_EQ(file->tensors().size(), 40u);  // wte, wpe, ln_f.{weight,bias}, 3 x 12 per block
  EXPECT_EQ(file->metadata().at("format"), "pt");
  EXPECT_EQ(tensor_entry(*file, "wte.weight").shape, (std::vector<int64_t>{1000, 64}));
  EXPECT_EQ(tensor_entry(*file, "wpe.weight").shape, (std::vector<int64_t>{64, 64}));
  EXPECT_EQ(tensor_entry(*file, "ln_f.weight").shape, (std::vector<int64_t>{64}));
  for (int l = 0; l < 3; ++l) {
    const std::string p = "h." + std::to_string(l) + ".";
    EXPECT_EQ(tensor_entry(*file, p + "attn.c_attn.weight").shape, (std::vector<int64_t>{64, 192}));
    EXPECT_EQ(tensor_entry(*file, p + "attn.c_attn.bias").shape, (std::vector<int64_t>{192}));
    EXPECT_EQ(tensor_entry(*file, p + "attn.c_proj.weight").shape, (std::vector<int64_t>{64, 64}));
    EXPECT_EQ(tensor_entry(*file, p + "mlp.c_fc.weight").shape, (std::vector<int64_t>{64, 256}));
    EXPECT_EQ(tensor_entry(*file, p + "mlp.c_proj.weight").shape, (std::vector<int64_t>{256, 64}));
    EXPECT_EQ(tensor_entry(*file, p + "ln_1.bias").shape, (std::vector<int64_t>{64}));
  }
  for (const auto& t : file->tensors()) EXPECT_EQ(t.dtype, DType::F32) << t.name;
  EXPECT_EQ(file->find("lm_head.weight"), nullptr);  // tied
}

TEST(Safetensors, EveryMalformedFileGetsItsOneLineError) {
  struct Case {
    const char* file;
    std::string message;
  };
  const std::vector<Case> cases = {
      {"empty", "file is 0 bytes, shorter than the 8-byte header length"},
      {"too_short", "file is 5 bytes, shorter than the 8-byte header length"},
      {"header_over_limit", "header length 200000000 exceeds the limit of 100000000 bytes"},
      {"header_past_eof", "header length 1000 exceeds the file size minus 8 (20 bytes)"},
      {"bad_json", "header is not valid JSON (it ends early, after 22 bytes)"},
      {"trailing_garbage", "header is not valid JSON (error at character 4 of 4)"},
      {"not_object", "header is not a JSON object"},
      {"metadata_not_object", "__metadata__: is not an object"},
      {"metadata_value", "__metadata__: value of 'format' is not a string"},
      {"entry_not_object", "tensor 'w': entry is not an object"},
      {"missing_dtype", "tensor 'w': missing 'dtype'"},
      {"missing_shape", "tensor 'w': missing 'shape'"},
      {"missing_data_offsets", "tensor 'w': missing 'data_offsets'"},
      {"dtype_not_string", "tensor 'w': dtype is not a string"},
      {"unknown_dtype",
       "tensor 'w': unknown dtype 'F8_E4M3' (supported: F64 F32 F16 BF16 I64 I32 I16 I8 U8 BOOL)"},
      {"shape_not_array", "tensor 'w': shape is not an array"},
      {"shape_negative", "tensor 'w': shape [-2] is not a list of non-negative integers"},
      {"shape_float", "tensor 'w': shape [2.0] is not a list of non-negative integers"},
      {"offsets_one", "tensor 'w': data_offsets [0] is not a pair of non-negative integers"},
      {"offsets_negative",
       "tensor 'w': data_offsets [-8,0] is not a pair of non-negative integers"},
      {"offsets_reversed", "tensor 'w': data_offsets [8, 0] end before they begin"},
      {"size_mismatch",
       "tensor 'h.0.attn.c_attn.weight': data_offsets [0, 100] do not match shape [64,192] x F32 "
       "(49152 bytes)"},
      {"shape_overflow",
       "tensor 'w': data_offsets [0, 0] do not match shape "
       "[4611686018427387904,4611686018427387904] x F32 "
       "(overflows bytes)"},
      {"past_end",
       "tensor 'w': data_offsets [4, 12] extend past the end of the data section (8 bytes)"},
      {"overlap", "tensor 'b': data_offsets [12, 20] overlap tensor 'a' [0, 16]"},
      {"duplicate", "tensor 'w': appears twice in the header"},
      {"empty_name", "tensor '': empty tensor name"},
  };
  for (const Case& c : cases) {
    const fs::path path = data_dir() / "bad" / (std::string(c.file) + ".safetensors");
    const std::string message = error_of([&] { SafetensorsFile::open(path); });
    EXPECT_EQ(message, path.string() + ": " + c.message) << c.file;
    EXPECT_EQ(message.find('\n'), std::string::npos) << c.file;
  }
  EXPECT_EQ(cases.size(), 27u);
}

TEST(Safetensors, MissingFileAndFolderAreRefused) {
  const fs::path missing = data_dir() / "no_such.safetensors";
  EXPECT_EQ(error_of([&] { SafetensorsFile::open(missing); }),
            missing.string() + ": cannot open: No such file or directory");
  EXPECT_EQ(error_of([&] { SafetensorsFile::open(data_dir() / "valid"); }),
            (data_dir() / "valid").string() + ": not a regular file");
}

TEST(CheckpointFiles, SingleFileAndShardedHoldTheSameTensors) {
  const CheckpointFiles single = CheckpointFiles::open(data_dir() / "single");
  const CheckpointFiles sharded = CheckpointFiles::open(data_dir() / "sharded");
  EXPECT_EQ(single.files().size(), 1u);
  EXPECT_EQ(sharded.files().size(), 2u);
  EXPECT_EQ(sharded.dir(), data_dir() / "sharded");
  const std::vector<std::string> expected = {"h.0.attn.c_attn.bias", "h.0.attn.c_attn.weight",
                                             "h.1.mlp.c_fc.weight", "ln_f.weight", "wte.weight"};
  EXPECT_EQ(single.names(), expected);
  EXPECT_EQ(sharded.names(), expected);
  for (const auto& name : expected) {
    const TensorEntry* a = single.find(name);
    const TensorEntry* b = sharded.find(name);
    ASSERT_TRUE(a && b) << name;
    EXPECT_EQ(a->dtype, b->dtype) << name;
    EXPECT_EQ(a->shape, b->shape) << name;
    EXPECT_TRUE(same_bytes(*a, *b)) << name;
  }
  EXPECT_EQ(sharded.find("wte.weight")->file,
            (data_dir() / "sharded/model-00001-of-00002.safetensors").string());
  EXPECT_EQ(sharded.find("ln_f.weight")->file,
            (data_dir() / "sharded/model-00002-of-00002.safetensors").string());
  EXPECT_EQ(single.find("nope"), nullptr);
  EXPECT_EQ(single.total_bytes(), sharded.total_bytes());
  EXPECT_EQ(single.total_bytes(), 50u * 16 * 4 + 16 * 48 * 2 + 48 * 2 + 16 * 64 * 4 + 16 * 4);
}

TEST(CheckpointFiles, EntriesOutliveCopiesOfTheCheckpoint) {
  const TensorEntry* entry = nullptr;
  CheckpointFiles copy;
  {
    CheckpointFiles original = CheckpointFiles::open(data_dir() / "sharded");
    entry = original.find("ln_f.weight");
    copy = original;
  }
  EXPECT_EQ(copy.find("ln_f.weight"), entry);
  EXPECT_EQ(floats_of(*entry), std::vector<float>(16, 1.0f));
}

TEST(CheckpointFiles, Gpt2TinyFixture) {
  const CheckpointFiles ckpt = CheckpointFiles::open(kGpt2Tiny);
  EXPECT_EQ(ckpt.names().size(), 40u);
  EXPECT_EQ(ckpt.find("h.2.mlp.c_fc.bias")->shape, (std::vector<int64_t>{256}));
  EXPECT_EQ(ckpt.total_bytes(), fs::file_size(kGpt2Tiny / "model.safetensors") - 8 - 3272);
}

TEST(CheckpointFiles, EveryMalformedFolderGetsItsOneLineError) {
  const fs::path c = data_dir() / "ckpt";
  auto index = [&](const char* folder) {
    return (c / folder / "model.safetensors.index.json").string();
  };
  struct Case {
    const char* folder;
    std::string message;
  };
  const std::vector<Case> cases = {
      {"empty", (c / "empty").string() +
                    ": no model.safetensors or model.safetensors.index.json in this folder"},
      {"stray_shard", (c / "stray_shard").string() +
                          ": no model.safetensors or model.safetensors.index.json in this folder "
                          "(found model-00001-of-00002.safetensors)"},
      {"torch_bin", (c / "torch_bin").string() +
                        ": found pytorch_model.bin but only safetensors checkpoints are supported "
                        "(convert it, e.g. save_pretrained(..., safe_serialization=True))"},
      {"index_bad_json",
       index("index_bad_json") + ": not valid JSON (it ends early, after 16 bytes)"},
      {"index_no_weight_map", index("index_no_weight_map") + ": weight_map: missing"},
      {"index_map_not_object", index("index_map_not_object") + ": weight_map: is not an object"},
      {"index_map_empty", index("index_map_empty") + ": weight_map: is empty"},
      {"index_value_not_string", index("index_value_not_string") +
                                     ": tensor 'ln_f.weight': weight_map value is not a string"},
      {"index_missing_file",
       index("index_missing_file") +
           ": tensor 'h.0.attn.c_attn.bias': mapped to 'model-00002-of-00002.safetensors', "
           "which does not exist"},
      {"index_escapes",
       index("index_escapes") +
           ": tensor 'ln_f.weight': mapped to '../model-00002-of-00002.safetensors', which is "
           "not a file name inside the folder"},
      {"index_wrong_shard",
       index("index_wrong_shard") +
           ": tensor 'ln_f.weight': mapped to 'model-00001-of-00002.safetensors', which "
           "does not contain it"},
      {"index_unlisted",
       index("index_unlisted") +
           ": tensor 'ln_f.weight': present in 'model-00002-of-00002.safetensors' but "
           "missing from weight_map"},
      {"index_twice",
       index("index_twice") +
           ": tensor 'wte.weight': present in both 'model-00001-of-00002.safetensors' and "
           "'model-00002-of-00002.safetensors'"},
      {"index_bad_shard", (c / "index_bad_shard/model-00002-of-00002.safetensors").string() +
                              ": header length 1099511627776 exceeds the limit of 100000000 bytes"},
  };
  for (const Case& k : cases) {
    const std::string message = error_of([&] { CheckpointFiles::open(c / k.folder); });
    EXPECT_EQ(message, k.message) << k.folder;
  }
  EXPECT_EQ(error_of([&] { CheckpointFiles::open(c / "no_such_folder"); }),
            (c / "no_such_folder").string() + ": checkpoint folder does not exist");
  EXPECT_EQ(error_of([&] { CheckpointFiles::open(c / "torch_bin/pytorch_model.bin"); }),
            (c / "torch_bin/pytorch_model.bin").string() + ": not a folder");
}

// Never a crash: every truncation of a valid file, and many corrupted headers, either open
// (then every entry lies inside the file) or throw csweep::Error.
TEST(Safetensors, TruncatedAndCorruptedFilesNeverCrash) {
  const fs::path source = data_dir() / "single/model.safetensors";  // no trailing gap
  std::ifstream in(source, std::ios::binary);
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  // tmpfs when there is one: ~1300 small files are written and mapped
  const fs::path scratch_dir =
      fs::exists("/dev/shm") ? fs::path("/dev/shm") : fs::temp_directory_path();
  const fs::path scratch =
      scratch_dir / ("csweep-fuzz-" + std::to_string(::getpid()) + ".safetensors");
  auto attempt = [&](const std::string& content) {
    std::ofstream(scratch, std::ios::binary | std::ios::trunc) << content;
    try {
      auto file = SafetensorsFile::open(scratch);
      for (const auto& t : file->tensors()) {
        const std::byte* end = t.data + t.nbytes;
        EXPECT_LE(static_cast<size_t>(end - t.data), file->file_size());
      }
      return true;
    } catch (const Error& e) {
      EXPECT_EQ(std::string(e.what()).rfind(scratch.string() + ": ", 0), 0u) << e.what();
      return false;
    }
  };
  int opened = 0;
  for (size_t n = 0; n < bytes.size(); n += (n < 600 ? 1 : 97))
    opened += attempt(bytes.substr(0, n));
  opened += attempt(bytes.substr(0, bytes.size() - 1));
  EXPECT_EQ(opened, 0) << "a truncated file must not open";
  EXPECT_TRUE(attempt(bytes));
  uint64_t state = 12345;  // a fixed LCG: the same corruptions every run
  for (int i = 0; i < 600; ++i) {
    std::string corrupted = bytes;
    state = state * 6364136223846793005ULL + 1442695040888963407ULL;
    const size_t at = (state >> 33) % 600;  // the header (~500 bytes) and the first data bytes
    corrupted[at] = static_cast<char>(state >> 17);
    attempt(corrupted);
  }
  fs::remove(scratch);
}

// A number JSON can spell but not hold (found by the safetensors fuzzer: nlohmann throws
// out_of_range, not parse_error, and the program died) is one line like any malformed header.
TEST(Safetensors, AHeaderNumberOutOfRangeIsOneLine) {
  const fs::path dir = csweep::testing::fresh_test_dir("model-core", "number-out-of-range");
  fs::create_directories(dir);
  const std::string header =
      R"({"w": {"dtype": "F32", "shape": [1e5555], "data_offsets": [0, 4]}})";
  const uint64_t length = header.size();
  std::string bytes(reinterpret_cast<const char*>(&length), 8);
  bytes += header + std::string(4, '\0');
  std::ofstream(dir / "m.safetensors", std::ios::binary) << bytes;
  EXPECT_EQ(
      csweep::testing::error_of([&] { SafetensorsFile::open(dir / "m.safetensors"); }),
      (dir / "m.safetensors").string() + ": header is not valid JSON (a number is out of range)");
}
