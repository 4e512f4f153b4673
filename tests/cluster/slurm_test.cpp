// csweep submit / cancel / status against a real Slurm cluster (slurm_fixture.h).
//
// The batch scripts run a stand-in step (standin_csweep.sh) that honours the `csweep run`
// contract — deterministic per-shard results, written atomically; drain and exit 75 on USR1;
// a rerun computes only the missing shards; --slice k/N — so every Slurm mechanism is tested
// for real: sbatch, #SBATCH parsing of quoted values, srun across two slurmd nodes, the USR1
// warning, self-requeue, SLURM_RESTART_COUNT, arrays, afterok reduce, scancel, squeue --json.
#include <gtest/gtest.h>

#include <map>
#include <set>
#include <thread>

#include "cluster/job_record.h"
#include "cluster/profile.h"
#include "cluster/rank_placement.h"
#include "cluster/sbatch_script.h"
#include "cluster/shell_quote.h"
#include "cluster/slurm_cli.h"
#include "cluster/status.h"
#include "slurm_fixture.h"
#include "test_util.h"

namespace csweep::cluster {
namespace {
using namespace std::chrono_literals;
using namespace testing;

const std::string kStandin = std::string(CSWEEP_CLUSTER_TEST_DIR) + "/standin_csweep.sh";

class SlurmTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!SlurmCluster::running()) GTEST_SKIP() << SlurmCluster::skip_reason();
    write_text(
        dir_.path() / "cluster.yaml",
        "partition: debug\nnodes: 2\ntasks_per_node: 1\nsignal_seconds: 30\nmax_requeues: 2\n");
  }

  std::filesystem::path job(int shards, double seconds) {
    auto file = dir_.path() / "jobs" / ("sweep " + std::to_string(shards) + ".yaml");
    write_text(file, "shards: " + std::to_string(shards) +
                         "\nshard_seconds: " + std::to_string(seconds) + "\n");
    return file;
  }

  // `csweep submit` (the real command) → the sweep job id printed on stdout.
  std::string submit(const std::filesystem::path& job_file, const std::filesystem::path& store,
                     std::vector<std::string> extra = {}) {
    std::vector<std::string> argv = {CSWEEP_SLURM_CLI,
                                     "submit",
                                     job_file.string(),
                                     "--cluster",
                                     (dir_.path() / "cluster.yaml").string(),
                                     "--store",
                                     store.string(),
                                     "--step-binary",
                                     kStandin};
    argv.insert(argv.end(), extra.begin(), extra.end());
    CommandResult r = run_command(argv);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    std::string id = r.out.substr(0, r.out.find('\n'));
    EXPECT_FALSE(id.empty());
    EXPECT_EQ(id.find_first_not_of("0123456789"), std::string::npos) << r.out;
    return id;
  }

  // The same job run in this process's shell, without Slurm: the reference results.
  std::map<std::string, std::string> local_results(const std::filesystem::path& job_file) {
    const auto store = dir_.path() / "local";
    std::filesystem::remove_all(store);
    CommandResult r = run_command({kStandin, "run", job_file.string(), "--store", store.string()});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return results(store);
  }

  static std::map<std::string, std::string> results(const std::filesystem::path& store) {
    std::map<std::string, std::string> out;
    if (!std::filesystem::exists(store / "results")) return out;
    for (const auto& e : std::filesystem::directory_iterator(store / "results"))
      out[e.path().filename().string()] = read_text(e.path());
    return out;
  }

  // shard id → writer lines ("job=.. task=.. restart=.. rank=..") from the store's index.
  static std::multimap<int, std::string> writers(const std::filesystem::path& store) {
    std::multimap<int, std::string> out;
    for (const auto& e : std::filesystem::directory_iterator(store / "index")) {
      std::istringstream lines(read_text(e.path()));
      std::string word, line;
      int shard = 0;
      while (lines >> word >> shard && std::getline(lines, line)) out.emplace(shard, line);
    }
    return out;
  }

  std::string reduce_job_of(const std::filesystem::path& store) {
    for (const auto& record : read_job_records(store))
      if (record.role == "reduce") return record.job_id;
    return "";
  }

  TempDir dir_{"csweep slurm 'q' $(touch CANARY)"};
};

TEST_F(SlurmTest, SubmittedSweepMatchesALocalRunAndNothingIsInjected) {
  const auto job_file = job(5, 0);
  const auto store = dir_.path() / "store `touch CANARY` \"dq\" 100%x";
  const std::string id = submit(job_file, store, {"--name", "evil $(touch CANARY)"});
  const std::string reduce = reduce_job_of(store);
  ASSERT_FALSE(reduce.empty());
  EXPECT_EQ(wait_finished(reduce, 60s), "COMPLETED") << read_text(
      store / "slurm" / "logs" / (slurm_job_name("evil $(touch CANARY)") + "-" + id + ".out"));
  EXPECT_EQ(job_state(id), "COMPLETED");

  EXPECT_EQ(results(store), local_results(job_file));
  EXPECT_EQ(results(store).size(), 5u);
  EXPECT_TRUE(std::filesystem::exists(store / "sweep.txt")) << "the reduce job ran";
  // srun spread the two ranks over both slurmd nodes: each wrote its own index file.
  std::set<std::string> ranks;
  for (const auto& [shard, writer] : writers(store))
    ranks.insert(writer.substr(writer.find("rank=")));
  EXPECT_EQ(ranks.size(), 2u);

  for (const auto& dir : {dir_.path(), store, store / "slurm", std::filesystem::current_path()})
    EXPECT_FALSE(std::filesystem::exists(dir / "CANARY")) << dir;
  const std::string log = read_text(store / "slurm" / "logs" /
                                    (slurm_job_name("evil $(touch CANARY)") + "-" + id + ".out"));
  EXPECT_NE(log.find("step exited with status 0"), std::string::npos) << log;

  const auto records = read_job_records(store);
  ASSERT_EQ(records.size(), 2u);
  EXPECT_EQ(records[0].job_id, id);
  EXPECT_EQ(records[1].depends_on, id);
  const auto status = slurm_jobs_status(store);
  ASSERT_EQ(status.size(), 2u);
  EXPECT_EQ(status[0].state, "COMPLETED");
  EXPECT_EQ(status[0].exit_code, "0:0");
  EXPECT_EQ(status[1].role, "reduce");
  EXPECT_EQ(status[1].state, "COMPLETED");
}

TEST_F(SlurmTest, Usr1DrainsRequeuesAndResumesWithIdenticalResults) {
  const auto job_file = job(8, 1);
  const auto store = dir_.path() / "preempted";
  const std::string id = submit(job_file, store);
  ASSERT_TRUE(wait_until([&] { return !results(store).empty(); }, 60s))
      << "the sweep never started";
  ASSERT_EQ(run_command({"scancel", "--signal=USR1", "--batch", id}).exit_code, 0);

  // The script requeues itself; Slurm holds a requeued job ~120 s (BeginTime): release it.
  ASSERT_TRUE(wait_until([&] { return job_restarts(id) == 1 && job_state(id) == "PENDING"; }, 60s))
      << job_state(id) << " restarts " << job_restarts(id);
  EXPECT_LT(results(store).size(), 8u) << "the drain must have stopped the sweep early";
  // Only restart once the first run's step daemons are gone: a step started while the old
  // one still holds its PMIx socket fails ("Cannot bind() UNIX socket"). On a real cluster
  // the ~120 s requeue hold covers this.
  ASSERT_TRUE(wait_until([&] { return !step_daemons_alive(id); }, 30s));
  // slurmd compares a restarted job's credential with its revocation in whole seconds: a restart
  // within the second of the requeue is killed ("Job credential revoked").
  std::this_thread::sleep_for(2s);
  ASSERT_EQ(run_command({"scontrol", "update", "JobId=" + id, "StartTime=now"}).exit_code, 0);

  EXPECT_EQ(wait_finished(reduce_job_of(store), 90s), "COMPLETED");
  EXPECT_EQ(job_state(id), "COMPLETED");
  EXPECT_EQ(results(store), local_results(job_file));

  // Every shard computed exactly once, some before the requeue and the rest after it.
  const auto w = writers(store);
  EXPECT_EQ(w.size(), 8u);
  int before = 0, after = 0;
  for (const auto& [shard, writer] : w)
    (writer.find("restart=0") != std::string::npos ? before : after)++;
  EXPECT_GT(before, 0);
  EXPECT_GT(after, 0);

  const std::string log = read_text(store / "slurm" / "logs" / ("sweep_8-" + id + ".out"));
  EXPECT_NE(log.find("USR1: asking csweep to drain"), std::string::npos) << log;
  EXPECT_NE(log.find("step exited with status 75"), std::string::npos) << log;
  EXPECT_NE(log.find("requeueing job " + id), std::string::npos) << log;
  EXPECT_NE(log.find("restart 1 of at most 2"), std::string::npos)
      << "--open-mode=append keeps both runs\n"
      << log;
  const auto status = slurm_jobs_status(store);
  ASSERT_FALSE(status.empty());
  EXPECT_EQ(status[0].restart_count, 1);
}

TEST_F(SlurmTest, ThreeTaskArrayCoversThePlanAndReducesOnce) {
  const auto job_file = job(7, 0.2);
  const auto store = dir_.path() / "array";
  const std::string id = submit(job_file, store, {"--array", "3"});
  EXPECT_EQ(wait_finished(reduce_job_of(store), 90s), "COMPLETED");
  EXPECT_EQ(wait_finished(id, 10s), "COMPLETED,COMPLETED,COMPLETED");
  EXPECT_EQ(results(store), local_results(job_file));

  // The index shows which task wrote what: shard i by task i % 3.
  const auto w = writers(store);
  ASSERT_EQ(w.size(), 7u);
  for (const auto& [shard, writer] : w)
    EXPECT_NE(writer.find("task=" + std::to_string(shard % 3) + " "), std::string::npos)
        << shard << writer;

  const auto status = slurm_jobs_status(store);
  std::set<std::string> tasks;
  for (const auto& s : status)
    if (s.role == "sweep") tasks.insert(s.job_id);
  EXPECT_EQ(tasks, (std::set<std::string>{id + "_0", id + "_1", id + "_2"}));
}

// The GPU placement in a real allocation, with both launchers. The local nodes have no GPUs, so
// the profile asks for none and only the placement is a GPU profile's (2 nodes x 2 GPU slots):
// 5 ranks, rank 0 and the first group (ranks 1-2) on node 1, ranks 3-4 on node 2. Each node has
// 2 CPUs, so node 1's third task also shows that --overcommit is what lets it start.
TEST_F(SlurmTest, GpuPlacementPutsRankZeroAndTheFirstGroupOnTheFirstNode) {
  const auto step = dir_.path() / "where.sh";
  write_text(
      step,
      "#!/bin/bash\n# run JOB --store STORE: records which node runs this rank.\n"
      "printf '%s' \"$SLURMD_NODENAME\" > \"$4/rank-${OMPI_COMM_WORLD_RANK:-$SLURM_PROCID}\"\n");
  std::filesystem::permissions(step, std::filesystem::perms::owner_all);
  for (Launcher launcher : {Launcher::Srun, Launcher::Mpirun}) {
    ScriptRequest r;
    r.profile = load_cluster_profile(dir_.path() / "cluster.yaml");
    r.profile.tasks_per_node = 2;
    r.profile.launcher = launcher;
    ClusterProfile gpu = r.profile;
    gpu.gpus_per_node = 2;
    r.placement = place_ranks(gpu, ranks_to_offer(gpu));
    ASSERT_EQ(r.placement.ranks, 5);
    r.job_file = job(1, 0);
    r.store = dir_.path() / (std::string("placed ") + launcher_name(launcher));
    r.step_binary = step;
    r.job_name = "placed";
    std::filesystem::create_directories(slurm_dir(r.store) / "logs");
    const auto script = slurm_dir(r.store) / "sweep.sbatch";
    write_text(script, render_sweep_script(r));
    const std::string id = sbatch_submit({}, script.string());
    EXPECT_EQ(wait_finished(id, 60s), "COMPLETED")
        << read_text(slurm_dir(r.store) / "logs" / ("placed-" + id + ".out"));
    std::map<std::string, std::string> node_of_rank;
    for (int rank = 0; rank < 5; ++rank)
      node_of_rank[std::to_string(rank)] = read_text(r.store / ("rank-" + std::to_string(rank)));
    EXPECT_EQ(node_of_rank, (std::map<std::string, std::string>{
                                {"0", "n1"}, {"1", "n1"}, {"2", "n1"}, {"3", "n2"}, {"4", "n2"}}))
        << launcher_name(launcher) << "\n"
        << read_text(slurm_dir(r.store) / "logs" / ("placed-" + id + ".out"));
  }
}

TEST_F(SlurmTest, CancelStopsTheStoresJobs) {
  const auto store = dir_.path() / "cancelled";
  const std::string id = submit(job(40, 1), store);
  ASSERT_TRUE(wait_until([&] { return job_state(id) == "RUNNING"; }, 60s));
  const std::string reduce = reduce_job_of(store);
  CommandResult r = run_command({CSWEEP_SLURM_CLI, "cancel", store.string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "cancelled " + id + "\ncancelled " + reduce + "\n");
  EXPECT_EQ(wait_finished(id, 30s), "CANCELLED");
  EXPECT_EQ(wait_finished(reduce, 30s), "CANCELLED");
  r = run_command({CSWEEP_SLURM_CLI, "cancel", store.string()});
  EXPECT_EQ(r.out, "no pending or running jobs\n");
}

}  // namespace
}  // namespace csweep::cluster

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  ::testing::AddGlobalTestEnvironment(new csweep::cluster::testing::SlurmCluster);
  return RUN_ALL_TESTS();
}
