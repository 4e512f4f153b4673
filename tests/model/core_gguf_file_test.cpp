// The GGUF reader on hand-written files: every metadata type, tensor geometry, and the ways a
// file can be truncated or corrupt — each a one-line csweep::Error naming the file and the key
// or tensor, never a crash or an allocation sized by garbage.
#include <filesystem>
#include <random>
#include <string>

#include <gtest/gtest.h>

#include "common/error.h"
#include "model/gguf/gguf_file.h"
#include "tests/error_of.h"
#include "tests/model/gguf_test_writer.h"

namespace fs = std::filesystem;
using csweep::Error;
using csweep::test::GgufWriter;
using namespace csweep::model::gguf;

namespace {

fs::path file_scratch_dir() { return csweep::test::gguf_scratch_dir("file"); }

fs::path write(const std::string& name, const std::string& bytes) {
  fs::path p = file_scratch_dir() / name;
  GgufWriter::write_bytes(p, bytes);
  return p;
}

using csweep::testing::error_of;

std::string open_error(const std::string& bytes) {
  fs::path p = write("broken.gguf", bytes);
  return error_of([&] { GgufFile::open(p); });
}

GgufWriter small_file() {
  GgufWriter w;
  w.str("general.architecture", "llama");
  w.u32("llama.block_count", 2);
  w.f32("llama.rope.freq_base", 10000.0f);
  w.boolean("tokenizer.ggml.add_bos_token", true);
  w.i32("some.signed", -3);
  w.str_array("tokenizer.ggml.tokens", {"a", "b", "Ġc"});
  w.i32_array("tokenizer.ggml.token_type", {1, 1, 3});
  w.tensor_f32("norm.weight", {4}, {1, 2, 3, 4});
  w.tensor("q.weight", {32, 2}, GgmlType::Q8_0, std::string(2 * 34, '\x01'));
  return w;
}

}  // namespace

TEST(GgufFile, ReadsMetadataAndTensors) {
  fs::path p = write("small.gguf", small_file().bytes());
  auto f = GgufFile::open(p);
  EXPECT_EQ(f->version(), 3u);
  EXPECT_EQ(f->get_string("general.architecture"), "llama");
  EXPECT_EQ(f->get_uint("llama.block_count"), 2u);
  EXPECT_EQ(f->get_float("llama.rope.freq_base"), 10000.0);
  EXPECT_EQ(f->get_bool_or_none("tokenizer.ggml.add_bos_token"), true);
  EXPECT_EQ(f->find("some.signed")->i, -3);
  EXPECT_EQ(f->get_array("tokenizer.ggml.tokens", ValueType::STRING).at(2).s, "Ġc");
  EXPECT_EQ(f->get_array("tokenizer.ggml.token_type", ValueType::I32).at(2).i, 3);
  ASSERT_EQ(f->tensors().size(), 2u);
  const TensorInfo* q = f->find_tensor("q.weight");
  ASSERT_TRUE(q);
  EXPECT_EQ(q->shape(), (std::vector<int64_t>{2, 32}));  // ggml dims reversed
  EXPECT_EQ(q->nbytes, 68u);
  EXPECT_EQ(q->data[0], std::byte{1});
  EXPECT_EQ(f->find_tensor("norm.weight")->numel(), 4u);
  // Typed access errors name the file and key.
  EXPECT_EQ(error_of([&] { f->get_uint("general.architecture"); }),
            p.string() + ": metadata 'general.architecture': expected an integer, got string");
  EXPECT_EQ(error_of([&] { f->get_uint("some.signed"); }),
            p.string() + ": metadata 'some.signed': expected a non-negative integer, got -3");
  EXPECT_EQ(error_of([&] { f->get_string("nope"); }), p.string() + ": metadata 'nope': missing");
}

TEST(GgufFile, EveryTruncationIsAnErrorNamingWhatWasBeingRead) {
  const std::string full = small_file().bytes();
  for (size_t n = 0; n < full.size(); ++n) {
    std::string e = open_error(full.substr(0, n));
    ASSERT_FALSE(e.empty()) << "prefix of " << n << " bytes opened";
    ASSERT_EQ(e.find('\n'), std::string::npos) << e;
  }
  // Cut inside the data section: the tensor whose bytes are missing is named.
  std::string e = open_error(full.substr(0, full.size() - 10));
  EXPECT_NE(e.find("tensor 'q.weight': data ["), std::string::npos) << e;
  EXPECT_NE(e.find("ends past the end of the file"), std::string::npos) << e;
  e = open_error(full.substr(0, 200));  // inside the metadata
  EXPECT_NE(e.find("(truncated or corrupt)"), std::string::npos) << e;
}

TEST(GgufFile, CorruptHeadersAreRefusedBeforeAllocating) {
  const std::string head = "GGUF" + GgufWriter::pod(uint32_t(3));
  auto counts = [&](uint64_t tensors, uint64_t kvs) {
    return head + GgufWriter::pod(tensors) + GgufWriter::pod(kvs) + std::string(64, '\0');
  };
  EXPECT_NE(open_error("GGML" + std::string(40, '\0')).find("not a GGUF file"), std::string::npos);
  EXPECT_NE(open_error("GGUF" + GgufWriter::pod(uint32_t(1)) + std::string(40, '\0'))
                .find("GGUF version 1 is not supported"),
            std::string::npos);
  EXPECT_NE(open_error("GGUF" + GgufWriter::pod(uint32_t(3) << 24) + std::string(40, '\0'))
                .find("little-endian"),
            std::string::npos);  // a big-endian file reads as a huge version
  EXPECT_NE(open_error(counts(uint64_t(1) << 60, 0)).find("tensors cannot fit in the file"),
            std::string::npos);
  EXPECT_NE(open_error(counts(0, ~uint64_t(0))).find("metadata entries cannot fit"),
            std::string::npos);
  EXPECT_NE(open_error("GGU").find("3 bytes, shorter than a GGUF header"), std::string::npos);

  GgufWriter w;
  w.kv("k", 8, GgufWriter::pod(uint64_t(1) << 62));  // a string claiming 4 EiB
  EXPECT_NE(open_error(w.bytes()).find("metadata 'k': needs 4611686018427387904 bytes"),
            std::string::npos)
      << open_error(w.bytes());
  GgufWriter a;
  a.kv("arr", 9,
       GgufWriter::pod(uint32_t(4)) + GgufWriter::pod(uint64_t(1) << 40));  // 2^40 uint32s
  EXPECT_NE(
      open_error(a.bytes()).find("metadata 'arr': array of 1099511627776 values exceeds the limit"),
      std::string::npos);
  GgufWriter a2;
  a2.kv("arr", 9,
        GgufWriter::pod(uint32_t(4)) + GgufWriter::pod(uint64_t(1000)));  // 1000 uint32s, no bytes
  EXPECT_NE(open_error(a2.bytes()).find("cannot fit in the"), std::string::npos)
      << open_error(a2.bytes());
  GgufWriter t;
  t.kv("t", 99, "");
  EXPECT_NE(open_error(t.bytes()).find("metadata 't': unknown value type 99"), std::string::npos);
  GgufWriter b;
  b.kv("b", 7, "\x05");
  EXPECT_NE(open_error(b.bytes()).find("bool value 5 is neither 0 nor 1"), std::string::npos);
  GgufWriter d;
  d.u32("x", 1);
  d.u32("x", 2);
  EXPECT_NE(open_error(d.bytes()).find("metadata 'x': appears twice"), std::string::npos);
  GgufWriter al;
  al.u32("general.alignment", 24);
  EXPECT_NE(open_error(al.bytes()).find("general.alignment': must be a power of two"),
            std::string::npos);
}

TEST(GgufFile, CorruptTensorInfosAreRefusedByName) {
  auto one = [](std::vector<uint64_t> dims, uint32_t type, size_t bytes) {
    GgufWriter w;
    w.tensor("blk.0.attn_q.weight", std::move(dims), GgmlType(type), std::string(bytes, '\0'));
    return open_error(w.bytes());
  };
  EXPECT_NE(one({4, 1, 1, 1, 1}, 0, 16)
                .find("tensor 'blk.0.attn_q.weight': 5 dimensions (ggml allows 1 to 4)"),
            std::string::npos);
  EXPECT_NE(one({4}, 77, 16).find("tensor 'blk.0.attn_q.weight': unknown ggml type id 77"),
            std::string::npos);
  EXPECT_NE(one({48}, 8, 34).find("row length 48 is not a multiple of the Q8_0 block (32)"),
            std::string::npos);
  EXPECT_NE(one({uint64_t(1) << 40, uint64_t(1) << 40}, 0, 0).find("impossibly large"),
            std::string::npos);
  EXPECT_NE(one({1024}, 0, 16).find("ends past the end of the file"), std::string::npos);
  // A misaligned data offset.
  std::string bytes = small_file().bytes();
  size_t at = bytes.find("q.weight") + 8 + 4 + 16 + 4;  // name, n_dims, two dims, type -> offset
  uint64_t offset;
  std::memcpy(&offset, bytes.data() + at, 8);
  offset += 4;
  std::memcpy(bytes.data() + at, &offset, 8);
  EXPECT_NE(open_error(bytes).find(
                "tensor 'q.weight': data offset 36 is not a multiple of the alignment 32"),
            std::string::npos)
      << open_error(bytes);
}

TEST(GgufFile, RandomCorruptionNeverCrashes) {
  // Flip bytes anywhere in the header and metadata: every result opens or is a csweep::Error.
  const std::string full = small_file().bytes();
  std::mt19937 rng(17);
  int errors = 0;
  for (int i = 0; i < 1000; ++i) {
    std::string b = full;
    for (int k = 0; k < 3; ++k) b[rng() % 400 % b.size()] = char(rng());
    fs::path p = write("fuzz.gguf", b);
    try {
      GgufFile::open(p);
    } catch (const Error&) {
      ++errors;
    }
  }
  EXPECT_GT(errors, 50);
}

TEST(GgufFile, NotAFileOrMissing) {
  EXPECT_NE(error_of([] {
              GgufFile::open("/nonexistent/x.gguf");
            }).find("/nonexistent/x.gguf: cannot open"),
            std::string::npos);
  EXPECT_NE(error_of([] { GgufFile::open(file_scratch_dir()); }).find("not a regular file"),
            std::string::npos);
}
