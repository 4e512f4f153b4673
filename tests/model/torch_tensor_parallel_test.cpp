// Tensor parallelism inside the model (docs/tensor-parallel.md): a group of T ranks (threads
// on the in-process collective here; real MPI ranks in TensorParallel.MpiRanksMatchOneProcess)
// loads its slices of every architecture fixture and must give what the one-process model
// gives — logits, every hook site's cache, patched forwards and Model::resume — within 1e-5.
#include <array>
#include <exception>
#include <thread>

#include "common/error.h"
#include "model/arch_table.h"
#include "model/in_process_collective.h"
#include "model/partition.h"
#include "model/tensor_parallel.h"
#include "tests/error_of.h"
#include "tests/model/reference/model_test_util.h"
#include "tests/model/tp_checks.h"

namespace csweep::model::testing {
namespace {

using csweep::testing::error_of;

// Every architecture fixture: GPT-2 (fused c_attn), NeoX parallel and sequential (partial
// rotary), Llama with 2 and 1 KV heads (fewer than 4 ranks: replicated), Mistral (sliding
// window), Qwen2 (q/k/v biases), Qwen3 (q/k norms, d_head 24).
std::vector<fs::path> tp_fixtures() {
  std::vector<fs::path> dirs{gpt2_fixture()};
  for (const char* v : {"neox_parallel", "neox_sequential", "llama_gqa_llama3_tied", "llama_untied",
                        "mistral", "qwen2", "qwen3", "gemma3"})
    dirs.push_back(arch_fixtures() / v);
  return dirs;
}

// Each rank of an in-process group of `T` loads `dir` sliced and computes tp_outputs.
std::vector<std::map<std::string, at::Tensor>> run_group(const fs::path& dir, int T,
                                                         const at::Tensor& tokens) {
  std::vector<std::string> errors;
  auto outputs = on_thread_ranks(
      T,
      [&](Collective& rank) {
        LoadOptions o;
        o.tensor_parallel = &rank;
        return tp_outputs(*Model::load(dir, o), tokens);
      },
      errors);
  for (int r = 0; r < T; ++r) EXPECT_EQ(errors[static_cast<size_t>(r)], "") << "rank " << r;
  return outputs;
}

TEST(TensorParallel, EveryArchitectureMatchesOneProcessAtTwoAndFourRanks) {
  for (const fs::path& dir : tp_fixtures()) {
    SCOPED_TRACE(dir.filename().string());
    const at::Tensor tokens = tp_tokens(dir);
    const auto want = tp_outputs(*Model::load(dir), tokens);
    for (int T : {2, 4}) {
      const auto got = run_group(dir, T, tokens);
      for (int r = 0; r < T; ++r)
        EXPECT_EQ(tp_mismatch(want, got[static_cast<size_t>(r)], 1e-5), "")
            << "T " << T << " rank " << r;
    }
  }
}

TEST(TensorParallel, EachRankHoldsOnlyItsSlice) {
  const fs::path dir = arch_fixtures() / "llama_untied";  // 4 heads, 1 KV head, MLP 128
  InProcessGroup group(2);
  std::vector<std::shared_ptr<Model>> models(2);
  std::vector<std::thread> threads;
  for (int r = 0; r < 2; ++r)
    threads.emplace_back([&, r] {
      LoadOptions o;
      o.tensor_parallel = &group.rank(r);
      models[static_cast<size_t>(r)] = Model::load(dir, o);
    });
  for (auto& t : threads) t.join();
  auto whole = Model::load(dir);
  const ModelConfig& c = whole->config();
  const int64_t dh = c.d_head;
  for (int r = 0; r < 2; ++r) {
    const LayerWeights& w = models[static_cast<size_t>(r)]->weights().layers[1];
    const LayerWeights& full = whole->weights().layers[1];
    EXPECT_TRUE(w.W_Q.equal(full.W_Q.narrow(0, r * 2 * dh, 2 * dh)));
    EXPECT_TRUE(w.W_K.equal(full.W_K));  // the one KV head, replicated
    EXPECT_TRUE(w.W_O.equal(full.W_O.narrow(1, r * 2 * dh, 2 * dh)));
    EXPECT_TRUE(w.W_gate.equal(full.W_gate.narrow(0, r * 64, 64)));
    EXPECT_TRUE(w.W_out.equal(full.W_out.narrow(1, r * 64, 64)));
    EXPECT_EQ(models[static_cast<size_t>(r)]->config().n_heads, 4);  // the model's own config
  }
}

TEST(TensorParallel, InMemoryShardsMatchSlicedLoading) {
  const fs::path dir = gpt2_fixture();
  auto whole = Model::load(dir);
  const Partition p = partition_of(whole->config(), 1, 2);
  const Weights w = shard_weights(whole->weights(), whole->config(), p);
  InProcessGroup group(2);
  std::map<std::string, at::Tensor> loaded;
  std::thread t([&] {
    LoadOptions o;
    o.tensor_parallel = &group.rank(1);
    auto m = Model::load(dir, o);
    for (auto& [name, tensor] : m->mutable_weights().named()) loaded[name] = *tensor;
  });
  std::thread t0([&] {
    LoadOptions o;
    o.tensor_parallel = &group.rank(0);
    Model::load(dir, o);
  });
  t.join();
  t0.join();
  Weights copy = w;
  for (auto& [name, tensor] : copy.named()) EXPECT_TRUE(tensor->equal(loaded.at(name))) << name;
}

TEST(TensorParallel, BlockwiseReadsEqualOneCopy) {
  auto file = SafetensorsFile::open(gpt2_fixture() / "model.safetensors");
  const TensorEntry* e = file->find("wte.weight");  // [1000, 64] float32: 250 KiB
  ASSERT_NE(e, nullptr);
  const size_t block = 3 * 4096 + 100;  // blocks of 48 rows, the last one short
  for (auto [dim, start, length] :
       std::vector<std::array<int64_t, 3>>{{0, 0, 1000}, {0, 123, 500}, {1, 16, 32}, {1, 0, 64}})
    for (c10::ScalarType dtype : {at::kFloat, at::kBFloat16})
      EXPECT_TRUE(read_slice(*e, dim, start, length, dtype, at::kCPU, block)
                      .equal(to_tensor_slice(*e, dim, start, length, dtype, at::kCPU)))
          << "dim " << dim << " [" << start << ", " << start + length << ")";
  EXPECT_NE(error_of([&] {
              read_slice(*e, 1, 60, 8, at::kFloat, at::kCPU, block);
            }).find("slice [60, 68) of dim 1 is out of range"),
            std::string::npos);
}

TEST(TensorParallel, SizesThatDoNotDivideAreOneLineErrors) {
  ModelConfig c = load_model_config(arch_fixtures() / "llama_gqa_llama3_tied");  // 4 heads, 2 KV
  EXPECT_EQ(error_of([&] { partition_of(c, 0, 3); }),
            c.config_path.string() + ": tensor_parallel: 3 does not divide the 4 attention heads");
  c.n_heads = 6;
  c.n_kv_heads = 3;
  EXPECT_NE(error_of([&] { partition_of(c, 0, 2); }).find("do not divide one another"),
            std::string::npos);
  c.n_heads = 4;
  c.d_mlp = 130;
  EXPECT_NE(error_of([&] { partition_of(c, 1, 4); }).find("does not divide the MLP width 130"),
            std::string::npos);
  // Whole weights handed to one rank of a group would compute garbage: refused.
  auto whole = Model::load(arch_fixtures() / "qwen2");
  InProcessGroup group(2);
  EXPECT_NE(error_of([&] {
              Model(whole->config(), whole->weights(), at::kFloat, at::kCPU, &group.rank(0));
            }).find("tensor_parallel: W_Q has 64 rows but rank 0 of 2 holds 32"),
            std::string::npos);
}

#ifdef CSWEEP_TEST_TP_MPI_CHECK
// Real ranks: the MPI world of 2 and of 4 processes (oversubscribed) as one group.
TEST(TensorParallel, MpiRanksMatchOneProcess) {
  std::string dirs;
  for (const fs::path& dir : tp_fixtures()) dirs += " " + dir.string();
  for (int np : {2, 4}) {
    const fs::path out = csweep::testing::fresh_test_dir("model", "tp_mpi_" + std::to_string(np));
    const std::string command = "timeout 600 mpirun -np " + std::to_string(np) +
                                " --oversubscribe " + CSWEEP_TEST_TP_MPI_CHECK + dirs + " > " +
                                out.string() + " 2>&1";
    const int rc = std::system(command.c_str());
    const std::string text = read_text(out);
    EXPECT_EQ(rc, 0) << text;
    for (int r = 0; r < np; ++r)
      EXPECT_NE(text.find("rank " + std::to_string(r) + ": ok"), std::string::npos) << text;
  }
}
#endif

}  // namespace
}  // namespace csweep::model::testing
