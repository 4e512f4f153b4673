// Faults: SIGKILL of any process at random (seeded) moments, then rerun until complete: the
// result must equal an uninterrupted run's exactly. SIGTERM/SIGUSR1 -> exit 75 on every rank.
#include <gtest/gtest.h>

#include <csignal>
#include <cstring>
#include <random>

#include "common/error.h"
#include "process.h"
#include "store/reader.h"
#include "store/store.h"
#include "synthetic_store.h"
#include "worker/synthetic_executor.h"

namespace fs = std::filesystem;
using namespace csweep::testing;

namespace {

fs::path fresh_dir(const std::string& name) { return fresh_test_dir("orchestrator", name); }

std::string job() { return sweep_job(); }

// 0 while the run has not created the store yet.
int64_t shards_done(const fs::path& store) {
  try {
    return csweep::store::read_store(store).shards_done;
  } catch (const csweep::Error&) {
    return 0;
  }
}

// Kills (SIGKILL) a run at a random moment `kills` times on one store, then lets a final run
// finish. np == 0: the plain process; np > 0: a random rank of an mpirun world (mpirun then
// tears the others down).
void kill_and_rerun(const std::string& name, int np, int kills, uint32_t seed) {
  const fs::path store = fresh_dir(name);
  std::mt19937 rng(seed);
  // Kill moments span start-up (before any shard) to deep into the sweep.
  std::uniform_real_distribution<double> when(0.05, np > 0 ? 3.0 : 2.0);
  const std::vector<std::string> args{job(), "--store", store.string(), "--executor",
                                      "synthetic:sleep_ms=25"};
  int64_t last_done = 0;
  int mid_sweep_kills = 0;  // kills that found the sweep started and unfinished
  for (int k = 0; k < kills; ++k) {
    Child c = spawn(run_command(np, args), store.string() + ".log" + std::to_string(k));
    // Even kills: a random moment after launch (start-up included). Odd kills: a random
    // moment after this run has made progress (deep in the shard loop).
    double t = when(rng);
    if (k % 2 == 1) {
      for (int i = 0; i < 500 && shards_done(store) <= last_done; ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
      t = std::uniform_real_distribution<double>(0.0, 0.6)(rng);
    }
    std::this_thread::sleep_for(std::chrono::duration<double>(t));
    pid_t victim = c.pid;
    if (np > 0) {
      auto ranks = children_of(c.pid);
      if (!ranks.empty())
        victim = ranks[std::uniform_int_distribution<size_t>(0, ranks.size() - 1)(rng)];
    }
    ::kill(victim, SIGKILL);
    ASSERT_TRUE(wait_for(c, 60)) << "kill " << k << " at " << t << " s: the run did not end";
    // Whatever the moment, the store stays readable and consistent.
    if (!fs::exists(store / "spec.hash")) continue;  // killed before the store existed
    auto contents = csweep::store::read_store(store.string());
    EXPECT_TRUE(contents.conflicts.empty());
    EXPECT_GE(contents.shards_done, last_done) << "kill " << k << " lost previously durable shards";
    if (contents.shards_done > last_done && !contents.complete()) ++mid_sweep_kills;
    last_done = contents.shards_done;
    if (contents.complete()) break;
  }
  EXPECT_GE(mid_sweep_kills, 2) << "the kills never hit a running sweep: the test proved nothing";
  Child done = spawn(run_command(np, args), store.string() + ".final");
  ASSERT_TRUE(wait_for(done, 120));
  ASSERT_EQ(done.exit_code(), 0) << done.output();
  expect_synthetic_store(store);
  // Damaged fragments were moved aside, never read as results.
  auto contents = csweep::store::read_store(store);
  EXPECT_TRUE(contents.unreadable.empty());
}

int signal_and_wait(const fs::path& store, int np, int sig, bool signal_a_worker) {
  Child c = spawn(
      run_command(np, {job(), "--store", store.string(), "--executor", "synthetic:sleep_ms=20"}),
      store.string() + ".log");
  // Wait for real progress so the drain has in-flight shards to finish.
  for (int i = 0; i < 300; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    if (shards_done(store) >= 3) break;
  }
  pid_t victim = c.pid;
  if (np > 0) {
    auto ranks = children_of(c.pid);
    EXPECT_EQ(ranks.size(), static_cast<size_t>(np));
    std::sort(ranks.begin(), ranks.end());
    if (!ranks.empty()) victim = signal_a_worker ? ranks.back() : ranks.front();
  }
  ::kill(victim, sig);
  EXPECT_TRUE(wait_for(c, 60)) << c.output();
  EXPECT_NE(c.output().find("interrupted"), std::string::npos) << c.output();
  return c.exit_code();
}

}  // namespace

TEST(Faults, SigkillOfThePlainProcessAtRandomMomentsThenRerunIsExact) {
  kill_and_rerun("kill-plain", 0, 6, 20261122);
}

TEST(Faults, SigkillOfAnyMpiRankAtRandomMomentsThenRerunIsExact) {
  kill_and_rerun("kill-mpi", 3, 5, 7);
}

TEST(Faults, SigtermToAWorkerRankExits75OnEveryRankAndRerunCompletes) {
  const fs::path store = fresh_dir("sigterm-worker");
  EXPECT_EQ(signal_and_wait(store, 3, SIGTERM, true), 75);
  auto c = csweep::store::read_store(store);
  EXPECT_FALSE(c.complete());
  EXPECT_EQ(c.layout.shards.size() > 0, true);
  auto status = nlohmann::json::parse(csweep::store::read_text_file(store / "status.json"));
  EXPECT_EQ(status["state"], "interrupted");
  Child rerun = spawn(run_command(3, {job(), "--store", store.string(), "--executor", "synthetic"}),
                      store.string() + ".2");
  ASSERT_TRUE(wait_for(rerun, 90));
  EXPECT_EQ(rerun.exit_code(), 0) << rerun.output();
  expect_synthetic_store(store);
}

TEST(Faults, Sigusr1ToTheCoordinatorRankExits75) {
  const fs::path store = fresh_dir("sigusr1-coordinator");
  EXPECT_EQ(signal_and_wait(store, 3, SIGUSR1, false), 75);
}

TEST(Faults, SigtermToThePlainProcessExits75) {
  const fs::path store = fresh_dir("sigterm-plain");
  EXPECT_EQ(signal_and_wait(store, 0, SIGTERM, false), 75);
  Child rerun = spawn(run_command(0, {job(), "--store", store.string(), "--executor", "synthetic"}),
                      store.string() + ".2");
  ASSERT_TRUE(wait_for(rerun, 90));
  EXPECT_EQ(rerun.exit_code(), 0) << rerun.output();
  expect_synthetic_store(store);
}
