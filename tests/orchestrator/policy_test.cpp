// Failure policy of `csweep run`: on_error / max_retries from the job file's run: section
// with the command line overriding it, and --shard-timeout for a worker hung in its executor.
#include <gtest/gtest.h>

#include <cstring>

#include "process.h"
#include "store/reader.h"
#include "synthetic_store.h"
#include "worker/synthetic_executor.h"

namespace fs = std::filesystem;
using namespace csweep::testing;

namespace {

fs::path policy_dir(const std::string& name) { return fresh_test_dir("orchestrator-policy", name); }

std::vector<nlohmann::json> error_lines(const fs::path& store) {
  std::vector<nlohmann::json> out;
  std::ifstream in(store / "errors.jsonl");
  std::string line;
  while (std::getline(in, line))
    if (!line.empty()) out.push_back(nlohmann::json::parse(line));
  return out;
}

}  // namespace

TEST(Policy, JobFileOnErrorStopStopsAndTheCommandLineOverridesIt) {
  const std::string job = data_dir() + "/on_error_stop.yaml";  // run: {on_error: stop}
  const fs::path store = policy_dir("stop-from-job");
  Child stop =
      spawn(run_command(0, {job, "--store", store.string(), "--executor", "synthetic:fail=0"}),
            store.string() + ".log");
  ASSERT_TRUE(wait_for(stop, 60));
  EXPECT_EQ(stop.exit_code(), 1) << stop.output();
  auto c = csweep::store::read_store(store);
  // Shard 0 is the costliest (first handed out): stopping right after it leaves most undone.
  EXPECT_LT(c.shards_done, static_cast<int64_t>(c.layout.shards.size()) - 1);

  const fs::path store2 = policy_dir("continue-from-cli");
  Child cont = spawn(run_command(2, {job, "--store", store2.string(), "--executor",
                                     "synthetic:fail=0", "--on-error", "continue"}),
                     store2.string() + ".log");
  ASSERT_TRUE(wait_for(cont, 60));
  EXPECT_EQ(cont.exit_code(), 1) << cont.output();
  c = csweep::store::read_store(store2);
  EXPECT_EQ(c.shards_done, static_cast<int64_t>(c.layout.shards.size()) - 1);  // all but shard 0
  EXPECT_FALSE(c.shard_done[0]);
}

TEST(Policy, MaxRetriesRerunsATransientFailureAndRecordsEveryAttempt) {
  const std::string job = data_dir() + "/sweep.yaml";
  // Without retries the transient failures count.
  const fs::path store0 = policy_dir("no-retry");
  Child a =
      spawn(run_command(0, {job, "--store", store0.string(), "--executor", "synthetic:flaky=3;7"}),
            store0.string() + ".log");
  ASSERT_TRUE(wait_for(a, 60));
  EXPECT_EQ(a.exit_code(), 1) << a.output();
  EXPECT_EQ(error_lines(store0).size(), 2u);

  // With one retry, in process and across ranks, the sweep completes exactly. Under mpirun
  // only rank 1 is flaky, on every shard it runs for the first time (another rank must not
  // flake again on the retry: that would be a second failure).
  std::string every_shard;
  for (int id = 0; id < 400; ++id) every_shard += (id ? ";" : "") + std::to_string(id);
  for (int np : {0, 3}) {
    const fs::path store = policy_dir("retry-np" + std::to_string(np));
    const std::string executor =
        np == 0 ? "synthetic:flaky=3;7" : "synthetic:sleep_ms=2,fail_rank=1,flaky=" + every_shard;
    Child b = spawn(run_command(np, {job, "--store", store.string(), "--executor", executor,
                                     "--max-retries", "1", "--on-error", "stop"}),
                    store.string() + ".log");
    ASSERT_TRUE(wait_for(b, 60));
    EXPECT_EQ(b.exit_code(), 0) << "np " << np << ": " << b.output();
    expect_synthetic_store(store);
    auto errors = error_lines(store);
    if (np == 0) {
      EXPECT_EQ(errors.size(), 2u);
    } else {
      EXPECT_GE(errors.size(), 1u);
    }
    for (const auto& e : errors) {
      EXPECT_EQ(e["retrying"], true) << e.dump();
      EXPECT_EQ(e["attempt"], 1);
      EXPECT_NE(e["error"].get<std::string>().find("transient"), std::string::npos);
    }
  }
}

TEST(Policy, ShardTimeoutReissuesTheShardOfAHungWorker) {
  const std::string job = data_dir() + "/sweep.yaml";
  const fs::path store = policy_dir("hang");
  // Rank 1 hangs (for an hour) inside whichever shard it gets first; rank 2 must take that
  // shard over after 2 s and finish the sweep.
  std::string every_shard;
  for (int id = 0; id < 400; ++id) every_shard += (id ? ";" : "") + std::to_string(id);
  const auto t0 = std::chrono::steady_clock::now();
  Child c = spawn(run_command(3, {job, "--store", store.string(), "--executor",
                                  "synthetic:sleep_ms=5,fail_rank=1,hang=" + every_shard,
                                  "--shard-timeout", "2", "--prefetch", "1"}),
                  store.string() + ".log");
  ASSERT_TRUE(wait_for(c, 60)) << c.output();
  const double took = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_EQ(c.exit_code(), 0) << c.output();
  EXPECT_LT(took, 30.0);
  expect_synthetic_store(store);
  // The journal says why.
  bool saw_hung = false;
  for (const auto& e : fs::directory_iterator(store / "journal")) {
    std::ifstream in(e.path());
    std::string line;
    while (std::getline(in, line)) saw_hung |= line.find("hung") != std::string::npos;
  }
  EXPECT_TRUE(saw_hung);
}
