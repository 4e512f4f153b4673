// The coordinator's loop (orchestrator/coordinator.cpp) on an in-process world: scripted
// workers on threads, the real scheduler, store, journal, status.json and errors.jsonl.
#include <gtest/gtest.h>

#include <csignal>

#include "in_process_world.h"
#include "orchestrator/signals.h"
#include "tests/test_paths.h"

namespace fs = std::filesystem;
using namespace csweep;
using namespace csweep::testing;
using orchestrator::CoordinatorOptions;

namespace {

fs::path fresh_dir(const std::string& name) {
  return fresh_test_dir("orchestrator_coordinator", name);
}

nlohmann::json status_of(const fs::path& store) {
  std::ifstream in(store / "status.json");
  return nlohmann::json::parse(in);
}

int count_events(const std::vector<nlohmann::json>& journal, const std::string& ev) {
  int n = 0;
  for (const auto& e : journal) n += e["ev"] == ev ? 1 : 0;
  return n;
}

}  // namespace

TEST(Coordinator, NormalRunDoesEveryShardOnceAndStopsEveryWorkerWithZero) {
  SyntheticSweep sweep(fresh_dir("normal"), 40);
  auto run = coordinate_scripted(sweep, {Script{}, Script{}, Script{}});
  EXPECT_EQ(run.result.exit_code, 0) << run.result.message;
  EXPECT_EQ(run.result.shards_done, 40);
  EXPECT_EQ(run.result.shards_done_this_run, 40);
  EXPECT_FALSE(run.result.lost_workers);
  size_t assigned = 0;
  for (const auto& w : run.workers) {
    EXPECT_EQ(w.stop_code, 0);
    assigned += w.assigned.size();
  }
  EXPECT_EQ(assigned, 40u);  // nothing handed out twice
  const auto journal = journal_events(sweep.store->dir());
  const auto done = done_events(journal);
  ASSERT_EQ(done.size(), 40u);
  for (const auto& [shard, n] : done) EXPECT_EQ(n, 1) << "shard " << shard;
  EXPECT_EQ(count_events(journal, "bye"), 3);
  EXPECT_EQ(status_of(sweep.store->dir())["state"], "finished");
}

TEST(Coordinator, LostWorkersShardsAreReissuedToTheOthers) {
  SyntheticSweep sweep(fresh_dir("lost"), 200);
  CoordinatorOptions opt;
  opt.worker_timeout_s = 1.0;  // long enough that a starved but live thread is never taken for lost
  // Rank 1 dies on its first ASSIGN; the second (prefetch 2) is sent to a dead node.
  auto run = coordinate_scripted(sweep, {Script{.vanish_after_assigns = 1}, Script{}}, opt);
  EXPECT_EQ(run.result.exit_code, 0) << run.result.message;
  EXPECT_EQ(run.result.shards_done, 200);
  EXPECT_TRUE(run.result.lost_workers);  // the caller must MPI_Abort, not MPI_Finalize
  EXPECT_EQ(run.workers[0].stop_code, -1);
  const auto journal = journal_events(sweep.store->dir());
  std::vector<uint32_t> reissued;
  for (const auto& e : journal)
    if (e["ev"] == "lost") {
      EXPECT_EQ(e["rank"], 1);
      reissued = e["reissued"].get<std::vector<uint32_t>>();
    }
  ASSERT_EQ(reissued.size(), 2u) << "prefetch 2: both shards it held go back";
  for (uint32_t shard : reissued)
    EXPECT_NE(std::find(run.workers[1].assigned.begin(), run.workers[1].assigned.end(), shard),
              run.workers[1].assigned.end())
        << "shard " << shard << " was not re-issued to rank 2";
  for (const auto& [shard, n] : done_events(journal)) EXPECT_EQ(n, 1) << "shard " << shard;
}

TEST(Coordinator, EveryWorkerLostEndsTheRunWithOneAndSaysWhy) {
  SyntheticSweep sweep(fresh_dir("all_lost"), 6);
  CoordinatorOptions opt;
  opt.worker_timeout_s = 0.5;
  auto run = coordinate_scripted(sweep, {Script{.vanish_after_assigns = 1}}, opt);
  EXPECT_EQ(run.result.exit_code, 1);
  EXPECT_EQ(run.result.message, "no worker left (every worker was lost)");
  EXPECT_EQ(run.result.shards_done, 0);
  EXPECT_EQ(status_of(sweep.store->dir())["state"], "stopped");
}

TEST(Coordinator, HungWorkerIsLostAfterTheShardTimeoutAndItsShardsRunElsewhere) {
  SyntheticSweep sweep(fresh_dir("hung"), 200);
  CoordinatorOptions opt;
  opt.shard_timeout_s = 1.0;
  auto run = coordinate_scripted(sweep, {Script{.hang = true}, Script{}}, opt);
  EXPECT_EQ(run.result.exit_code, 0) << run.result.message;
  EXPECT_EQ(run.result.shards_done, 200);
  EXPECT_TRUE(run.result.lost_workers);
  bool hung = false;
  for (const auto& e : journal_events(sweep.store->dir()))
    if (e["ev"] == "lost")
      hung = e["rank"] == 1 && e["reason"].get<std::string>().rfind("hung:", 0) == 0;
  EXPECT_TRUE(hung);
}

TEST(Coordinator, FailedShardIsRetriedUpToMaxRetriesThenCountsAsFailed) {
  SyntheticSweep sweep(fresh_dir("retries"), 8);
  CoordinatorOptions opt;
  opt.max_retries = 2;
  // shard 2 fails twice, then runs; shard 5 always fails
  auto run = coordinate_scripted(sweep, {Script{}, Script{}}, opt, {{2, 2}, {5, -1}});
  EXPECT_EQ(run.result.exit_code, 1);
  EXPECT_EQ(run.result.shards_done, 7);
  EXPECT_EQ(run.result.shards_failed, 1);
  EXPECT_EQ(run.result.message.rfind("1 of 8 shards failed", 0), 0u) << run.result.message;
  EXPECT_NE(run.result.message.find("first: shard 5: scripted failure of shard 5"),
            std::string::npos);
  const auto errors = json_lines(sweep.store->dir() / "errors.jsonl");
  ASSERT_EQ(errors.size(), 5u);  // shard 2: attempts 1, 2; shard 5: attempts 1, 2, 3
  std::map<int64_t, std::vector<std::pair<int, bool>>> by_shard;
  for (const auto& e : errors) by_shard[e["shard"]].push_back({e["attempt"], e["retrying"]});
  EXPECT_EQ(by_shard[2], (std::vector<std::pair<int, bool>>{{1, true}, {2, true}}));
  EXPECT_EQ(by_shard[5], (std::vector<std::pair<int, bool>>{{1, true}, {2, true}, {3, false}}));
  EXPECT_EQ(status_of(sweep.store->dir())["state"], "finished_with_errors");
}

TEST(Coordinator, OnErrorStopDrainsAtTheFirstFinalFailure) {
  SyntheticSweep sweep(fresh_dir("on_error_stop"), 30);
  CoordinatorOptions opt;
  opt.on_error = orchestrator::OnError::Stop;
  auto run = coordinate_scripted(sweep, {Script{}}, opt,
                                 {{0, -1}});  // shard 0: the costliest, handed out first
  EXPECT_EQ(run.result.exit_code, 1);
  EXPECT_EQ(run.workers[0].stop_code, 1);
  EXPECT_LT(run.result.shards_done, 29);
  EXPECT_EQ(status_of(sweep.store->dir())["state"], "stopped");
}

TEST(Coordinator, ShardAckedTwiceCountsOnce) {
  SyntheticSweep sweep(fresh_dir("duplicates"), 100);
  auto run = coordinate_scripted(sweep, {Script{.ack_twice = true}, Script{}});
  EXPECT_EQ(run.result.exit_code, 0) << run.result.message;
  EXPECT_EQ(run.result.shards_done, 100);
  EXPECT_EQ(run.result.shards_done_this_run, 100);
  const auto journal = journal_events(sweep.store->dir());
  EXPECT_EQ(count_events(journal, "duplicate"), static_cast<int>(run.workers[0].assigned.size()));
  EXPECT_GT(count_events(journal, "duplicate"), 0);
  for (const auto& [shard, n] : done_events(journal)) EXPECT_EQ(n, 1) << "shard " << shard;
}

TEST(Coordinator, WorkerSignalDrainsEveryWorkerWith75) {
  SyntheticSweep sweep(fresh_dir("worker_signal"), 200);
  auto run = coordinate_scripted(sweep, {Script{.signal_after = 2}, Script{}});
  EXPECT_EQ(run.result.exit_code, orchestrator::kExitRequeue);
  EXPECT_EQ(run.result.message, "interrupted by signal; rerun the same command to resume");
  EXPECT_LT(run.result.shards_done, 200);
  for (const auto& w : run.workers) EXPECT_EQ(w.stop_code, orchestrator::kExitRequeue);
  EXPECT_EQ(status_of(sweep.store->dir())["state"], "interrupted");
}

TEST(Coordinator, SignalOnTheCoordinatorDrainsWith75) {
  orchestrator::install_drain_signal_handlers();  // before raise(): the default action ends the
                                                  // process
  SyntheticSweep sweep(fresh_dir("coordinator_signal"), 200);
  auto run = coordinate_scripted(sweep, {Script{.raise_after = 3}, Script{}});
  const int signal = orchestrator::drain_signal();
  orchestrator::clear_drain_signal();
  EXPECT_EQ(signal, SIGUSR1);
  EXPECT_EQ(run.result.exit_code, orchestrator::kExitRequeue);
  EXPECT_LT(run.result.shards_done, 200);
  for (const auto& w : run.workers) EXPECT_EQ(w.stop_code, orchestrator::kExitRequeue);
  bool journalled = false;
  for (const auto& e : journal_events(sweep.store->dir()))
    journalled = journalled || (e["ev"] == "signal" && e["rank"] == 0 && e["signal"] == SIGUSR1);
  EXPECT_TRUE(journalled);
}

TEST(Coordinator, ProtocolVersionMismatchAbortsWithTwo) {
  SyntheticSweep sweep(fresh_dir("version"), 4);
  auto run =
      coordinate_scripted(sweep, {Script{}, Script{.version = orchestrator::kProtocolVersion + 1}});
  EXPECT_EQ(run.result.exit_code, 2);
  EXPECT_NE(run.result.message.find("rank 2 speaks protocol version"), std::string::npos)
      << run.result.message;
  EXPECT_EQ(status_of(sweep.store->dir())["state"], "aborted");
}

// Tensor-parallel groups of two (ranks 1+2, 3+4): work goes to the leaders only, STOP too
// (each leader relays it), and the run waits for every rank's BYE.
TEST(Coordinator, GroupsGetWorkThroughTheirLeadersOnly) {
  SyntheticSweep sweep(fresh_dir("groups"), 40);
  CoordinatorOptions opt;
  opt.tensor_parallel = 2;
  auto run = coordinate_scripted(
      sweep, {Script{.members = {2}}, Script{}, Script{.members = {4}}, Script{}}, opt);
  EXPECT_EQ(run.result.exit_code, 0) << run.result.message;
  EXPECT_EQ(run.result.shards_done, 40);
  EXPECT_TRUE(run.workers[1].assigned.empty());
  EXPECT_TRUE(run.workers[3].assigned.empty());
  EXPECT_EQ(run.workers[0].assigned.size() + run.workers[2].assigned.size(), 40u);
  EXPECT_GT(run.workers[0].assigned.size(), 0u);
  EXPECT_GT(run.workers[2].assigned.size(), 0u);
  for (const auto& w : run.workers) EXPECT_EQ(w.stop_code, 0);
  EXPECT_EQ(count_events(journal_events(sweep.store->dir()), "bye"), 4);
}

// A member that goes silent loses its whole group: the leader's outstanding shards go to the
// other group, nothing more is sent to the lost group (not even STOP), and the caller is told
// to MPI_Abort (a rank of the lost group may be waiting in a collective).
TEST(Coordinator, ASilentMemberLosesItsGroupAndItsLeadersShardsAreReissued) {
  SyntheticSweep sweep(fresh_dir("group_lost"), 200);
  CoordinatorOptions opt;
  opt.tensor_parallel = 2;
  opt.worker_timeout_s = 1.0;
  auto run =
      coordinate_scripted(sweep,
                          {Script{.hang = true, .members = {2}}, Script{.vanish_when_ready = true},
                           Script{.members = {4}}, Script{}},
                          opt);
  EXPECT_EQ(run.result.exit_code, 0) << run.result.message;
  EXPECT_EQ(run.result.shards_done, 200);
  EXPECT_TRUE(run.result.lost_workers);
  EXPECT_EQ(run.workers[0].stop_code, -1);  // the lost leader got no STOP
  EXPECT_EQ(run.workers[2].stop_code, 0);
  EXPECT_EQ(run.workers[3].stop_code, 0);
  const auto journal = journal_events(sweep.store->dir());
  int lost = 0;
  for (const auto& e : journal)
    if (e["ev"] == "lost") {
      ++lost;
      EXPECT_EQ(e["rank"], 2);
      EXPECT_EQ(e["group_leader"], 1);
      EXPECT_FALSE(e["reissued"].empty());  // the hung leader's prefetched shards
    }
  EXPECT_EQ(lost, 1);
  for (const auto& [shard, n] : done_events(journal)) EXPECT_EQ(n, 1) << "shard " << shard;
}

TEST(InProcessWorld, MessagesArriveInOrderAndACutOffRankHearsAndSaysNothing) {
  orchestrator::InProcessWorld world(3);
  using orchestrator::Message;
  using orchestrator::MessageType;
  Message a{MessageType::Assign};
  a.shard = 7;
  a.text = "x";
  world.endpoint(0).send(1, a);
  world.endpoint(0).send(1, Message{MessageType::Stop});
  Message got;
  ASSERT_TRUE(world.endpoint(1).wait(got, 1.0));
  EXPECT_EQ(got.type, MessageType::Assign);
  EXPECT_EQ(got.shard, 7u);
  EXPECT_EQ(got.text, "x");
  EXPECT_EQ(got.source, 0);
  ASSERT_TRUE(world.endpoint(1).poll(got));
  EXPECT_EQ(got.type, MessageType::Stop);
  EXPECT_FALSE(world.endpoint(1).poll(got));
  world.cut_off(2);
  world.endpoint(2).send(0, Message{MessageType::Done});
  world.endpoint(0).send(2, Message{MessageType::Assign});
  EXPECT_FALSE(world.endpoint(0).wait(got, 0.05));
  EXPECT_FALSE(world.endpoint(2).poll(got));
  EXPECT_THROW(world.endpoint(1).abort(3), orchestrator::InProcessAbort);
  EXPECT_EQ(world.abort_code(), 3);
  EXPECT_THROW(world.endpoint(0).send(3, a), Error);
}
