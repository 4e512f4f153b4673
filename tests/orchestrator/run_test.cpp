// End-to-end tests of `csweep run` as real processes: plain, and under real `mpirun` with 1,
// 2 and 4 ranks; results compared bit for bit with what the synthetic executor defines.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>

#include "process.h"
#include "store/reader.h"
#include "synthetic_store.h"
#include "worker/synthetic_executor.h"

namespace fs = std::filesystem;
using namespace csweep::testing;

namespace {

fs::path fresh_dir(const std::string& name) { return fresh_test_dir("orchestrator", name); }

std::string job() { return sweep_job(); }

Child run_and_wait(int np, const std::vector<std::string>& args, const fs::path& log,
                   double timeout_s = 90) {
  Child c = spawn(run_command(np, args), log);
  EXPECT_TRUE(wait_for(c, timeout_s)) << "timed out: " << c.output();
  return c;
}

}  // namespace

TEST(Run, InProcessWritesEveryShardExactlyOnce) {
  const fs::path store = fresh_dir("inprocess");
  Child c = run_and_wait(0, {job(), "--store", store.string(), "--executor", "synthetic"},
                         store.string() + ".log");
  ASSERT_EQ(c.exit_code(), 0) << c.output();
  expect_synthetic_store(store, /*allow_duplicates=*/false);
  auto contents = csweep::store::read_store(store);
  EXPECT_GT(contents.layout.shards.size(), 50u);
  EXPECT_EQ(contents.fragments.size(), 1u);
  // provenance: build, model hashes, one run entry with an end
  const auto& p = contents.provenance;
  EXPECT_EQ(p["spec_hash"], contents.spec_hash);
  EXPECT_FALSE(p["build"]["git_sha"].get<std::string>().empty());
  EXPECT_EQ(p["model"]["files"][0]["hash_kind"], "xxh3-128");
  EXPECT_EQ(p["model"]["files"][0]["hash"].get<std::string>().size(), 32u);
  ASSERT_EQ(p["runs"].size(), 1u);
  EXPECT_EQ(p["runs"][0]["exit_code"], 0);
  EXPECT_TRUE(p["runs"][0].contains("ended"));

  // A rerun of a complete store computes nothing and changes no fragment.
  Child again =
      run_and_wait(0, {job(), "--store", store.string(), "--executor", "synthetic", "--json"},
                   store.string() + ".log2");
  ASSERT_EQ(again.exit_code(), 0) << again.output();
  EXPECT_NE(again.output().find("\"shards_done_this_run\":0"), std::string::npos) << again.output();
  expect_synthetic_store(store, false);
}

TEST(Run, MpiWorldsOf1_2_4AreBitIdenticalToInProcess) {
  for (int np : {1, 2, 4}) {
    const fs::path store = fresh_dir("mpi" + std::to_string(np));
    Child c =
        run_and_wait(np, {job(), "--store", store.string(), "--executor", "synthetic:sleep_ms=2"},
                     store.string() + ".log");
    ASSERT_EQ(c.exit_code(), 0) << "np " << np << ": " << c.output();
    expect_synthetic_store(store, false);
    auto contents = csweep::store::read_store(store);
    // np 1 is a singleton world: one in-process writer; otherwise one fragment per worker.
    EXPECT_EQ(contents.fragments.size(), static_cast<size_t>(np == 1 ? 1 : np - 1)) << "np " << np;
  }
}

TEST(Run, WorkerThatThrowsIsRecordedAndTheSweepGoesOn) {
  const fs::path store = fresh_dir("throws");
  Child c = run_and_wait(3, {job(), "--store", store.string(), "--executor", "synthetic:fail=5;17"},
                         store.string() + ".log");
  EXPECT_EQ(c.exit_code(), 1) << c.output();
  EXPECT_NE(c.output().find("2 of"), std::string::npos) << c.output();
  EXPECT_NE(c.output().find("synthetic failure of shard"), std::string::npos) << c.output();
  auto contents = csweep::store::read_store(store);
  EXPECT_EQ(contents.shards_done, static_cast<int64_t>(contents.layout.shards.size()) - 2);
  EXPECT_FALSE(contents.shard_done[5]);
  EXPECT_FALSE(contents.shard_done[17]);
  std::ifstream errors(store / "errors.jsonl");
  std::string line;
  int n = 0;
  while (std::getline(errors, line)) {
    ++n;
    EXPECT_NE(line.find("synthetic failure of shard"), std::string::npos);
  }
  EXPECT_EQ(n, 2);

  // The failures were deterministic: a rerun without them completes the sweep exactly.
  Child fix = run_and_wait(3, {job(), "--store", store.string(), "--executor", "synthetic"},
                           store.string() + ".log2");
  EXPECT_EQ(fix.exit_code(), 0) << fix.output();
  expect_synthetic_store(store, false);
}

TEST(Run, OnErrorStopEndsTheRunWithoutHanging) {
  const fs::path store = fresh_dir("stop");
  Child c = run_and_wait(3,
                         {job(), "--store", store.string(), "--executor",
                          "synthetic:sleep_ms=5,fail=0", "--on-error", "stop"},
                         store.string() + ".log", 60);
  EXPECT_EQ(c.exit_code(), 1) << c.output();
  auto contents = csweep::store::read_store(store);
  EXPECT_LT(contents.shards_done, static_cast<int64_t>(contents.layout.shards.size()));
  // In process as well.
  const fs::path store2 = fresh_dir("stop-inprocess");
  Child d = run_and_wait(
      0,
      {job(), "--store", store2.string(), "--executor", "synthetic:fail=0", "--on-error", "stop"},
      store2.string() + ".log", 60);
  EXPECT_EQ(d.exit_code(), 1) << d.output();
}

TEST(Run, StoreOfAnotherSpecIsRefusedUntilForceNew) {
  const fs::path store = fresh_dir("mismatch");
  Child a = run_and_wait(0, {job(), "--store", store.string(), "--executor", "synthetic"},
                         store.string() + ".a");
  ASSERT_EQ(a.exit_code(), 0) << a.output();
  const std::string other = data_dir() + "/other.yaml";
  Child b = run_and_wait(2, {other, "--store", store.string(), "--executor", "synthetic"},
                         store.string() + ".b");
  EXPECT_EQ(b.exit_code(), 2) << b.output();
  EXPECT_NE(b.output().find("spec.hash"), std::string::npos) << b.output();
  EXPECT_NE(b.output().find("--force-new"), std::string::npos) << b.output();
  expect_synthetic_store(store, false);  // untouched

  Child c =
      run_and_wait(0, {other, "--store", store.string(), "--executor", "synthetic", "--force-new"},
                   store.string() + ".c");
  EXPECT_EQ(c.exit_code(), 0) << c.output();
  bool moved_aside = false;
  for (const auto& e : fs::directory_iterator(store.parent_path()))
    moved_aside |= e.path().filename().string().rfind("mismatch.old-", 0) == 0;
  EXPECT_TRUE(moved_aside);
}

TEST(Run, StatusReportsProgressWhileRunningAndAfter) {
  const fs::path store = fresh_dir("status");
  Child c = spawn(
      run_command(3, {job(), "--store", store.string(), "--executor", "synthetic:sleep_ms=40"}),
      store.string() + ".log");
  // Poll status from "another shell" until the run has made some progress.
  bool saw_running = false;
  for (int i = 0; i < 200 && !saw_running; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    if (!fs::exists(store / "status.json")) continue;
    Child s = spawn({csweep_bin(), "status", store.string(), "--json"}, store.string() + ".status");
    ASSERT_TRUE(wait_for(s, 30));
    ASSERT_EQ(s.exit_code(), 0) << s.output();
    auto j = nlohmann::json::parse(s.output());
    if (j["state"] == "running" && j["shards_done"].get<int64_t>() > 0) {
      saw_running = true;
      EXPECT_LT(j["shards_done"].get<int64_t>(), j["shards_total"].get<int64_t>());
      EXPECT_TRUE(j["run"].contains("cells_per_s"));
    }
  }
  EXPECT_TRUE(saw_running);
  ASSERT_TRUE(wait_for(c, 90));
  EXPECT_EQ(c.exit_code(), 0) << c.output();
  Child s = spawn({csweep_bin(), "status", store.string()}, store.string() + ".status2");
  ASSERT_TRUE(wait_for(s, 30));
  EXPECT_EQ(s.exit_code(), 0);
  EXPECT_NE(s.output().find("state:  complete"), std::string::npos) << s.output();
}
