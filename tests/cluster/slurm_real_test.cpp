// The real `csweep` binary under real Slurm (slurm_fixture.h): `csweep submit` of a real job on
// the bundled induction model → `srun --mpi=pmix` across both slurmd nodes → `csweep reduce`
// afterok; a USR1 drain, self-requeue and resume; a 3-task array. Every store is compared bit
// for bit with an in-process `csweep run` of the same job.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <iostream>
#include <set>
#include <sstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "cluster/job_record.h"
#include "cluster/slurm_cli.h"
#include "cluster/status.h"
#include "slurm_fixture.h"
#include "store/reader.h"
#include "test_util.h"
#include "tests/test_paths.h"

namespace csweep::cluster {
namespace {
namespace fs = std::filesystem;
using namespace std::chrono_literals;
using namespace testing;

using csweep::testing::csweep_bin;

// One compute thread everywhere: the batch script sets OMP_NUM_THREADS from --cpus-per-task=1,
// and the reference must not differ from it by a BLAS thread split.
const std::vector<std::string> kOneThread = {"OMP_NUM_THREADS=1", "MKL_NUM_THREADS=1"};

CommandResult run_csweep(const std::vector<std::string>& args) {
  std::vector<std::string> argv = {"env"};
  argv.insert(argv.end(), kOneThread.begin(), kOneThread.end());
  argv.push_back(csweep_bin());
  argv.insert(argv.end(), args.begin(), args.end());
  return run_command(argv);
}

// A real sweep big enough (thousands of shards) that a USR1 sent after the first shard lands
// mid-sweep: head-by-position patching, head ablation and the logit lens on repeated tokens.
std::string real_job_yaml() {
  return "name: slurm-real\n"
         "seed: 5\n"
         "model:\n"
         "  path: " +
         csweep::testing::source_path("examples/models/induction-2l").string() +
         "\n"
         "  dtype: float32\n"
         "  device: cpu\n"
         "prompts:\n"
         "  - template: repeated_tokens\n"
         "    n: 96\n"
         "    length: 12\n"
         "    repeats: 2\n"
         "    low: 32\n"
         "    high: 256\n"
         "metric: logit_diff\n"
         "analyses:\n"
         "  - name: head_out_by_pos\n"
         "    kind: activation_patching\n"
         "    sites: [attn.hook_z]\n"
         "    patch: per_position\n"
         "  - name: head_ablation\n"
         "    kind: ablation\n"
         "    method: zero\n"
         "    target: heads\n"
         "  - name: lens\n"
         "    kind: logit_lens\n"
         "    quantities: [logit_diff]\n"
         "sharding:\n"
         "  batch_size: 8\n";
}

// Same layout, every cell done in both, values equal bit for bit, no conflicting copies.
void expect_same_results(const fs::path& got_dir, const fs::path& want_dir) {
  const store::StoreContents got = store::read_store(got_dir);
  const store::StoreContents want = store::read_store(want_dir);
  ASSERT_TRUE(want.complete());
  EXPECT_TRUE(got.complete()) << got.shards_done << "/" << got.layout.shards.size();
  EXPECT_TRUE(got.conflicts.empty()) << got.conflicts.front();
  EXPECT_TRUE(got.unreadable.empty());
  EXPECT_EQ(got.spec_hash, want.spec_hash);
  ASSERT_TRUE(got.layout == want.layout);
  ASSERT_EQ(got.analyses.size(), want.analyses.size());
  for (size_t a = 0; a < got.analyses.size(); ++a) {
    const auto& g = got.analyses[a];
    const auto& w = want.analyses[a];
    ASSERT_EQ(g.values.size(), w.values.size());
    EXPECT_EQ(g.done, w.done) << g.info.name;
    EXPECT_EQ(std::memcmp(g.values.data(), w.values.data(), g.values.size() * sizeof(float)), 0)
        << g.info.name << ": values differ from the in-process run";
  }
}

int64_t shards_done(const fs::path& store) {
  try {
    return store::read_store(store).shards_done;
  } catch (const std::exception&) {
    return 0;  // not created yet
  }
}

// Did slurmd NODE launch a task of step ID.0? Both "nodes" share this host's name, so the
// slurmd logs are where the placement is visible.
bool node_ran_step(const std::string& node, const std::string& id) {
  const std::string log = read_text(SlurmCluster::dir() / "log" / ("slurmd-" + node + ".log"));
  return log.find("StepId=" + id + ".0") != std::string::npos;
}

class SlurmRealTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!SlurmCluster::running()) return;
    shared_ = new TempDir("csweep-slurm-real");
    write_text(job_file(), real_job_yaml());
    // The reference: the same job in this process's shell, no MPI launcher, no Slurm.
    CommandResult r = run_csweep({"run", job_file().string(), "--store", reference().string()});
    reference_exit_ = r.exit_code;
    reference_log_ = r.out + r.err;
  }
  static void TearDownTestSuite() {
    delete shared_;
    shared_ = nullptr;
  }

  void SetUp() override {
    if (!SlurmCluster::running()) GTEST_SKIP() << SlurmCluster::skip_reason();
    ASSERT_TRUE(fs::exists(csweep_bin())) << csweep_bin() << " is not built";
    ASSERT_EQ(reference_exit_, 0) << reference_log_;
  }

  static fs::path job_file() { return shared_->path() / "slurm-real.yaml"; }
  static fs::path reference() { return shared_->path() / "reference"; }

  // NODES slurmd "nodes" with TASKS_PER_NODE ranks each. With several ranks per node, Open MPI's
  // shared-memory transport is switched off: both "nodes" are this one host, so their ranks'
  // /dev/shm segment names (hostname + local rank) would collide; on a real cluster they don't.
  fs::path profile(int nodes, int tasks_per_node) {
    const fs::path file = dir_.path() / ("cluster-" + std::to_string(nodes) + "x" +
                                         std::to_string(tasks_per_node) + ".yaml");
    std::string text = "partition: debug\nnodes: " + std::to_string(nodes) +
                       "\ntasks_per_node: " + std::to_string(tasks_per_node) +
                       "\ncpus_per_task: 1\nsignal_seconds: 30\nmax_requeues: 2\n";
    if (tasks_per_node > 1) text += "env:\n  OMPI_MCA_btl: \"self,tcp\"\n";
    write_text(file, text);
    return file;
  }

  // The real `csweep submit` (the compute nodes run the same binary) → the sweep job id.
  std::string submit(const fs::path& store, const fs::path& cluster,
                     std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {"submit",         job_file().string(), "--cluster",
                                     cluster.string(), "--store",           store.string()};
    args.insert(args.end(), extra.begin(), extra.end());
    CommandResult r = run_csweep(args);
    EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
    std::string id = r.out.substr(0, r.out.find('\n'));
    EXPECT_FALSE(id.empty());
    EXPECT_EQ(id.find_first_not_of("0123456789"), std::string::npos) << r.out;
    return id;
  }

  static std::string reduce_job_of(const fs::path& store) {
    for (const auto& record : read_job_records(store))
      if (record.role == "reduce") return record.job_id;
    return "";
  }

  static std::string sweep_log(const fs::path& store, const std::string& id) {
    return read_text(store / "slurm" / "logs" / ("slurm-real-" + id + ".out"));
  }

  TempDir dir_{"csweep-slurm-real-case"};
  static inline TempDir* shared_ = nullptr;
  static inline int reference_exit_ = -1;
  static inline std::string reference_log_;
};

TEST_F(SlurmRealTest, SweepAcrossTwoNodesThenReduceEqualsInProcessRun) {
  const fs::path store = dir_.path() / "store";
  const std::string id = submit(store, profile(2, 2));
  const std::string reduce = reduce_job_of(store);
  ASSERT_FALSE(reduce.empty());
  EXPECT_EQ(wait_finished(reduce, 120s), "COMPLETED") << sweep_log(store, id);
  ASSERT_EQ(job_state(id), "COMPLETED") << sweep_log(store, id);
  EXPECT_NE(sweep_log(store, id).find("step exited with status 0"), std::string::npos)
      << sweep_log(store, id);

  expect_same_results(store, reference());
  EXPECT_TRUE(node_ran_step("n1", id));
  EXPECT_TRUE(node_ran_step("n2", id));
  // Three workers (ranks 1..3) each wrote their own fragment.
  EXPECT_EQ(store::read_store(store).fragments.size(), 3u);
  EXPECT_TRUE(fs::exists(store / "sweep.h5")) << "the reduce job wrote sweep.h5";
  EXPECT_TRUE(fs::exists(store / "report.html"));
}

TEST_F(SlurmRealTest, Usr1DrainsExits75RequeuesAndResumesToIdenticalResults) {
  const fs::path store = dir_.path() / "preempted";
  const fs::path cluster = profile(2, 1);
  const std::string id = submit(store, cluster);
  ASSERT_TRUE(wait_until([&] { return shards_done(store) > 0; }, 90s))
      << "the sweep never started\n"
      << sweep_log(store, id);
  ASSERT_EQ(run_command({"scancel", "--signal=USR1", "--batch", id}).exit_code, 0);

  // The script requeues itself; Slurm holds a requeued job ~120 s (BeginTime): release it once
  // the first run's step daemons are gone (a new step cannot bind the old PMIx socket).
  ASSERT_TRUE(wait_until([&] { return job_restarts(id) == 1 && job_state(id) == "PENDING"; }, 90s))
      << job_state(id) << " restarts " << job_restarts(id) << "\n"
      << sweep_log(store, id);
  const std::string requeued = run_command({"scontrol", "show", "job", "-o", id}).out;
  const store::StoreContents drained = store::read_store(store);
  ASSERT_GT(drained.shards_done, 0);
  ASSERT_LT(drained.shards_done, static_cast<int64_t>(drained.layout.shards.size()))
      << "the sweep finished before USR1 arrived: make the job bigger";
  ASSERT_TRUE(wait_until([&] { return !step_daemons_alive(id); }, 30s));
  // slurmd compares a restarted job's credential with its revocation in whole seconds: a restart
  // within the second of the requeue is killed ("Job credential revoked").
  std::this_thread::sleep_for(2s);
  ASSERT_EQ(run_command({"scontrol", "update", "JobId=" + id, "StartTime=now"}).exit_code, 0);

  const std::string reduce = reduce_job_of(store);
  EXPECT_EQ(wait_finished(reduce, 150s), "COMPLETED") << sweep_log(store, id);
  EXPECT_EQ(job_state(id), "COMPLETED");
  EXPECT_EQ(job_restarts(id), 1);
  expect_same_results(store, reference());

  // Two runs in the store's provenance: the drained one (75) and the resumed one (0), which
  // computed exactly the shards the first left undone.
  const store::StoreContents done = store::read_store(store);
  const auto& runs = done.provenance["runs"];
  ASSERT_EQ(runs.size(), 2u) << done.provenance.dump(2);
  EXPECT_EQ(runs[0]["exit_code"], 75);
  EXPECT_EQ(runs[1]["exit_code"], 0);
  EXPECT_EQ(done.duplicate_shards, 0);

  const std::string log = sweep_log(store, id);
  EXPECT_NE(log.find("USR1: asking csweep to drain"), std::string::npos) << log;
  EXPECT_NE(log.find("step exited with status 75"), std::string::npos) << log;
  EXPECT_NE(log.find("requeueing job " + id), std::string::npos) << log;
  EXPECT_NE(log.find("restart 1 of at most 2"), std::string::npos) << log;
  EXPECT_NE(log.find("step exited with status 0"), std::string::npos) << log;

  CommandResult status = run_csweep({"status", store.string()});
  EXPECT_EQ(status.exit_code, 0) << status.err;
  EXPECT_NE(status.out.find("state:  complete"), std::string::npos) << status.out;
  // ... and the Slurm side of it: the sweep job requeued once and completed.
  CommandResult status_json = run_csweep({"status", store.string(), "--json"});
  ASSERT_EQ(status_json.exit_code, 0) << status_json.err;
  const auto slurm_jobs =
      nlohmann::json::parse(status_json.out).value("slurm_jobs", nlohmann::json::array());
  ASSERT_EQ(slurm_jobs.size(), 2u) << status_json.out;
  EXPECT_EQ(slurm_jobs[0]["job_id"], id);
  EXPECT_EQ(slurm_jobs[0]["state"], "COMPLETED");
  EXPECT_EQ(slurm_jobs[0]["restart_count"], 1);
  EXPECT_EQ(slurm_jobs[1]["role"], "reduce");
  EXPECT_EQ(slurm_jobs[1]["state"], "COMPLETED");

  // The lead's transcript: the script, the job id, the requeue and the final status.
  if (const char* path = std::getenv("CSWEEP_SLURM_TRANSCRIPT")) {
    // The store goes with the test's temporary folder: keep a copy of the script beside FILE.
    fs::copy_file(store / "slurm" / "sweep.sbatch", std::string(path) + ".sweep.sbatch",
                  fs::copy_options::overwrite_existing);
    std::ofstream t(path);
    t << "$ csweep submit " << job_file().string() << " --cluster " << cluster.string()
      << " --store " << store.string() << "\n"
      << id << "\n\n# generated script: " << (store / "slurm" / "sweep.sbatch").string()
      << " (copy: " << path << ".sweep.sbatch)\n"
      << read_text(store / "slurm" / "sweep.sbatch") << "\n"
      << "# after `scancel --signal=USR1 --batch " << id << "` (" << drained.shards_done << "/"
      << drained.layout.shards.size() << " shards done when it drained):\n$ scontrol show job -o "
      << id << "\n"
      << requeued << "\n# the job's log (--open-mode=append keeps both runs):\n"
      << log << "\n"
      << "$ scontrol show job -o " << id << "\n"
      << run_command({"scontrol", "show", "job", "-o", id}).out << "\n"
      << "$ csweep status " << store.string() << "\n"
      << status.out;
  }
}

TEST_F(SlurmRealTest, ThreeTaskArrayMergesToInProcessRunAndTheIndexShowsEachTasksShards) {
  const fs::path store = dir_.path() / "array";
  const std::string id = submit(store, profile(2, 1), {"--array", "3"});
  const std::string reduce = reduce_job_of(store);
  EXPECT_EQ(wait_finished(reduce, 180s), "COMPLETED");
  ASSERT_EQ(wait_finished(id, 10s), "COMPLETED,COMPLETED,COMPLETED")
      << read_text(store / "slurm" / "logs" / ("slurm-real-" + id + "_0.out"));
  expect_same_results(store, reference());

  // Read back with h5py, independently of csweep: every fragment names its array task, and
  // holds only shards of that task's slice (id % 3 == task); together they cover the plan.
  CommandResult r =
      run_command({"/usr/bin/python3",
                   std::string(CSWEEP_CLUSTER_TEST_DIR) + "/fragment_writers.py", store.string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto fragments = nlohmann::json::parse(r.out);
  std::set<std::string> tasks;
  std::set<int64_t> covered;
  for (const auto& f : fragments) {
    const std::string task = f["slurm_array_task_id"];
    tasks.insert(task);
    EXPECT_EQ(f["slurm_array_job_id"], id) << f.dump();
    EXPECT_EQ(f["slice"], task + "/3") << f.dump();
    for (int64_t shard : f["shards"]) {
      EXPECT_EQ(std::to_string(shard % 3), task) << f["file"] << " holds shard " << shard;
      covered.insert(shard);
    }
  }
  EXPECT_EQ(tasks, (std::set<std::string>{"0", "1", "2"}));
  EXPECT_EQ(covered.size(), store::read_store(store).layout.shards.size());

  std::set<std::string> slurm_tasks;
  for (const auto& s : slurm_jobs_status(store))
    if (s.role == "sweep") slurm_tasks.insert(s.job_id + ":" + s.state);
  EXPECT_EQ(slurm_tasks,
            (std::set<std::string>{id + "_0:COMPLETED", id + "_1:COMPLETED", id + "_2:COMPLETED"}));
}

// The earliest StartTime and the latest EndTime of a job's lines (array tasks), ISO 8601.
std::pair<std::string, std::string> job_span(const std::string& id) {
  std::string start = "9", end;
  std::istringstream lines(run_command({"scontrol", "show", "job", "-o", id}).out);
  for (std::string line; std::getline(lines, line);) {
    auto field = [&](const std::string& key) {
      const size_t at = line.find(" " + key + "=");
      return at == std::string::npos ? std::string()
                                     : line.substr(at + key.size() + 2, 19);  // 2026-11-29T05:20:01
    };
    start = std::min(start, field("StartTime"));
    end = std::max(end, field("EndTime"));
  }
  return {start, end};
}

// `--chain-stages --array 2` of tests/orchestrator/data/stages.yaml (3 stage levels): three
// 2-task arrays, each afterok the one before, reduce afterok the last; each level starts after
// the previous ended and the store equals one in-process `csweep run` of the job bit for bit.
TEST_F(SlurmRealTest, ChainedStageLevelsRunInOrderAndEqualOneInProcessRun) {
  const fs::path job = csweep::testing::source_path("tests/orchestrator/data/stages.yaml");
  const fs::path reference_store = dir_.path() / "stages-reference";
  CommandResult ref = run_csweep({"run", job.string(), "--store", reference_store.string()});
  ASSERT_EQ(ref.exit_code, 0) << ref.out << ref.err;

  const fs::path store = dir_.path() / "chained";
  CommandResult r = run_csweep({"submit", job.string(), "--cluster", profile(1, 1).string(),
                                "--store", store.string(), "--chain-stages", "--array", "2"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  std::vector<JobRecord> levels;
  std::string reduce;
  for (const auto& record : read_job_records(store)) {
    if (record.role == "reduce") reduce = record.job_id;
    if (record.role.rfind("sweep-L", 0) == 0) levels.push_back(record);
  }
  ASSERT_EQ(levels.size(), 3u);
  EXPECT_EQ(r.out, levels[0].job_id + "\n");
  EXPECT_EQ(wait_finished(reduce, 240s), "COMPLETED");
  for (size_t k = 0; k < levels.size(); ++k) {
    EXPECT_EQ(levels[k].role, "sweep-L" + std::to_string(k));
    EXPECT_EQ(levels[k].array_tasks, 2);
    EXPECT_EQ(levels[k].depends_on, k > 0 ? levels[k - 1].job_id : "");
    EXPECT_EQ(wait_finished(levels[k].job_id, 10s), "COMPLETED,COMPLETED")
        << read_text(store / "slurm" / "logs" /
                     ("stages-L" + std::to_string(k) + "-" + levels[k].job_id + "_0.out"));
  }
  for (size_t k = 0; k < levels.size(); ++k) {
    const auto [start, end] = job_span(levels[k].job_id);
    std::cout << "level " << k << " job " << levels[k].job_id << ": " << start << " .. " << end
              << "\n";
    EXPECT_GE(start, k > 0 ? job_span(levels[k - 1].job_id).second : "") << "level " << k;
  }
  expect_same_results(store, reference_store);
  EXPECT_TRUE(fs::exists(store / "sweep.h5")) << "the reduce job wrote sweep.h5";
}

TEST_F(SlurmRealTest, NightlyScriptSubmitsTheValidationSweepIntoADatedStore) {
  const fs::path root = dir_.path() / "nightly";
  const std::string nightly = csweep::testing::source_path("examples/nightly/").string();
  CommandResult r = run_command({"env", "CSWEEP=" + csweep_bin(), "bash", nightly + "nightly.sh",
                                 nightly + "validation.yaml", nightly + "cluster.yaml",
                                 (root / "baseline.h5").string(), root.string()});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  const fs::path store = fs::read_symlink(root / "latest");
  const std::string today = run_command({"date", "-u", "+%F"}).out.substr(0, 10);
  EXPECT_EQ(store, root / today);
  EXPECT_EQ(wait_finished(reduce_job_of(store), 120s), "COMPLETED");
  EXPECT_TRUE(store::read_store(store).complete());
  EXPECT_TRUE(fs::exists(store / "sweep.h5"));
  for (const auto& record : read_job_records(store))
    EXPECT_EQ(job_state(record.job_id), "COMPLETED") << record.role;
}

}  // namespace
}  // namespace csweep::cluster
