// The real computation, not the synthetic executor: five analysis kinds (activation patching
// per position, ablation, logit lens, attention scores, attribution patching) on the gpt2-tiny
// fixture, run in one process and under mpirun -np 2 and -np 4. Every rank computes with one
// thread (the default), so the merged results must be bit-identical.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <fstream>
#include <sstream>

#include "process.h"
#include "store/reader.h"

namespace fs = std::filesystem;
using namespace csweep::testing;

namespace {

fs::path fresh_dir(const std::string& name) { return fresh_test_dir("orchestrator-real", name); }

csweep::store::StoreContents run_world(int np) {
  const fs::path store = fresh_dir("np" + std::to_string(np));
  Child c = spawn(run_command(np, {data_dir() + "/real_model.yaml", "--store", store.string()}),
                  store.string() + ".log");
  EXPECT_TRUE(wait_for(c, 90)) << c.output();
  EXPECT_EQ(c.exit_code(), 0) << "np " << np << ": " << c.output();
  return csweep::store::read_store(store);
}

}  // namespace

TEST(RealModel, MpiWorldsOf2And4AreBitIdenticalToOneProcess) {
  const auto one = run_world(0);
  ASSERT_TRUE(one.complete());
  ASSERT_EQ(one.analyses.size(), 5u);
  std::set<std::string> kinds;
  for (const auto& a : one.analyses) {
    kinds.insert(a.info.kind);
    // Real numbers, not a placeholder: finite everywhere and not all equal.
    float lo = INFINITY, hi = -INFINITY;
    for (float v : a.values) {
      ASSERT_TRUE(std::isfinite(v)) << a.info.name;
      lo = std::min(lo, v);
      hi = std::max(hi, v);
    }
    EXPECT_LT(lo, hi) << a.info.name;
  }
  EXPECT_EQ(kinds, (std::set<std::string>{"activation_patching", "ablation", "logit_lens",
                                          "attention_scores", "attribution_patching"}));
  for (int np : {2, 4}) {
    const auto many = run_world(np);
    ASSERT_TRUE(many.complete()) << "np " << np;
    EXPECT_EQ(many.fragments.size(), static_cast<size_t>(np - 1)) << "np " << np;
    EXPECT_EQ(many.duplicate_shards, 0);
    EXPECT_EQ(many.spec_hash, one.spec_hash);
    // Several workers really shared the work.
    int writers_with_shards = 0;
    for (const auto& w : many.writers) writers_with_shards += w.shards > 0;
    EXPECT_EQ(writers_with_shards, np - 1) << "np " << np;
    for (size_t a = 0; a < one.analyses.size(); ++a) {
      const auto& x = one.analyses[a];
      const auto& y = many.analyses[a];
      ASSERT_EQ(x.values.size(), y.values.size());
      ASSERT_EQ(std::memcmp(x.values.data(), y.values.data(), x.values.size() * sizeof(float)), 0)
          << "np " << np << ": " << x.info.name << " differs from the in-process run";
    }
  }
}

// On a machine without a GPU, device: cuda is a one-line error naming the job file and field,
// and no store is created.
TEST(RealModel, CudaDeviceWithoutAGpuIsRefusedBeforeTheStoreExists) {
  if (std::system("nvidia-smi -L >/dev/null 2>&1") == 0) GTEST_SKIP() << "this machine has a GPU";
  const fs::path dir = fresh_dir("cuda-refused");
  fs::create_directories(dir);
  std::ifstream in(data_dir() + "/real_model.yaml");
  std::stringstream text;
  text << in.rdbuf();
  std::string yaml = text.str();
  const std::string path_line = "  path: ../../../../shared/fixtures/gpt2-tiny\n";
  const auto at = yaml.find(path_line);
  ASSERT_NE(at, std::string::npos);
  yaml.replace(at, path_line.size(),
               "  path: " + shared_fixture("gpt2-tiny").string() + "\n  device: cuda:0\n");
  const fs::path job = dir / "real_model_cuda.yaml";
  std::ofstream(job) << yaml;
  const fs::path store = dir / "store";
  Child c = spawn({csweep_bin(), "run", job.string(), "--store", store.string()}, dir / "run.log");
  EXPECT_TRUE(wait_for(c, 60));
  const std::string out = c.output();
  EXPECT_NE(c.exit_code(), 0) << out;
  EXPECT_NE(out.find("real_model_cuda.yaml: model.device: device cuda:0: no CUDA GPU"),
            std::string::npos)
      << out;
  EXPECT_EQ(std::count(out.begin(), out.end(), '\n'), 1) << out;
  EXPECT_FALSE(fs::exists(store)) << "a refused run must not create its store";
}
