// `csweep run --slice k/N` (one Slurm array task each): slices share one store, run at the
// same time, touch only their own shards, resume on their own, and record which array task
// wrote what; locks keep a slice from running twice and a whole-sweep run from mixing in.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/file.h>

#include <cstring>

#include "process.h"
#include "store/reader.h"
#include "worker/synthetic_executor.h"

namespace fs = std::filesystem;
using namespace csweep::testing;

namespace {

fs::path fresh_dir(const std::string& name) { return fresh_test_dir("orchestrator-slices", name); }

std::string job() { return sweep_job(); }

// csweep run under `env VAR=...` (plain, or as each rank's program under mpirun: Slurm
// variables in mpirun's own environment would make it look for a Slurm allocation).
std::vector<std::string> run_as_array_task(int np, const std::string& array_job, int task,
                                           const std::vector<std::string>& args) {
  std::vector<std::string> argv = run_command(np, args);
  auto at = std::find(argv.begin(), argv.end(), csweep_bin());
  argv.insert(at,
              {"env", "SLURM_JOB_ID=" + std::to_string(std::stoi(array_job) + 1 + task),
               "SLURM_ARRAY_JOB_ID=" + array_job, "SLURM_ARRAY_TASK_ID=" + std::to_string(task)});
  return argv;
}

// The JSON summary line of `csweep run --json` (stderr's progress lines share the file).
nlohmann::json summary_of(const std::string& output) {
  std::istringstream in(output);
  std::string line, last;
  while (std::getline(in, line))
    if (!line.empty() && line[0] == '{') last = line;
  return nlohmann::json::parse(last);
}

nlohmann::json csweep_status(const fs::path& store) {
  Child s = spawn({csweep_bin(), "status", store.string(), "--json"}, store.string() + ".status");
  EXPECT_TRUE(wait_for(s, 30));
  EXPECT_EQ(s.exit_code(), 0) << s.output();
  return nlohmann::json::parse(s.output());
}

void expect_values_exact(const csweep::store::StoreContents& c, uint32_t shard) {
  const auto& info = c.layout.shards[shard];
  const auto& r = c.analyses[info.analysis];
  for (int64_t cell = info.cell_begin; cell < info.cell_end; ++cell) {
    const float want = csweep::worker::synthetic_cell_value(info.analysis, info.prompt, cell, 64);
    const float got = r.at(info.prompt, cell);
    ASSERT_EQ(std::memcmp(&want, &got, sizeof(float)), 0) << "shard " << shard << " cell " << cell;
  }
}

// An flock held by this test process, as a running csweep would hold it.
struct HeldLock {
  int fd;
  HeldLock(const fs::path& file, int how)
      : fd(::open(file.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644)) {
    EXPECT_EQ(::flock(fd, how | LOCK_NB), 0) << file << ": " << std::strerror(errno);
  }
  ~HeldLock() { ::close(fd); }
};

}  // namespace

TEST(Slices, ArrayTasksShareAStoreMadeBySubmitAndEachComputesOnlyItsShards) {
  const fs::path store = fresh_dir("array");
  // csweep submit creates STORE/slurm/ (script, logs) before any task runs.
  fs::create_directories(store / "slurm");
  std::ofstream(store / "slurm" / "sweep.sbatch") << "#!/bin/bash\n";

  // Task 1 alone first: exactly its shards, nothing else marked.
  Child t1 = spawn(run_as_array_task(0, "500", 1,
                                     {job(), "--store", store.string(), "--executor", "synthetic",
                                      "--slice", "1/3", "--json"}),
                   store.string() + ".t1");
  ASSERT_TRUE(wait_for(t1, 60));
  ASSERT_EQ(t1.exit_code(), 0) << t1.output();
  auto c = csweep::store::read_store(store);
  const size_t n = c.layout.shards.size();
  ASSERT_GT(n, 30u);
  for (uint32_t id = 0; id < n; ++id) {
    EXPECT_EQ(c.shard_done[id], id % 3 == 1 ? 1 : 0) << "shard " << id;
    if (id % 3 == 1) expect_values_exact(c, id);
  }
  auto summary = summary_of(t1.output());
  EXPECT_EQ(summary["slice"], "1/3");
  EXPECT_EQ(summary["shards_total"].get<size_t>(), (n + 1) / 3);
  EXPECT_EQ(summary["store_shards_done"].get<size_t>(), (n + 1) / 3);
  EXPECT_TRUE(fs::exists(store / "slurm" / "sweep.sbatch"));  // submit's files untouched

  // Tasks 0 (under mpirun, 2 ranks) and 2 (plain) at the same time.
  Child t0 = spawn(run_as_array_task(2, "500", 0,
                                     {job(), "--store", store.string(), "--executor",
                                      "synthetic:sleep_ms=3", "--slice", "0/3"}),
                   store.string() + ".t0");
  Child t2 = spawn(run_as_array_task(0, "500", 2,
                                     {job(), "--store", store.string(), "--executor",
                                      "synthetic:sleep_ms=3", "--slice", "2/3"}),
                   store.string() + ".t2");
  ASSERT_TRUE(wait_for(t0, 90));
  ASSERT_TRUE(wait_for(t2, 90));
  ASSERT_EQ(t0.exit_code(), 0) << t0.output();
  ASSERT_EQ(t2.exit_code(), 0) << t2.output();

  c = csweep::store::read_store(store);
  ASSERT_TRUE(c.complete());
  EXPECT_EQ(c.duplicate_shards, 0);
  EXPECT_TRUE(c.conflicts.empty());
  for (uint32_t id = 0; id < n; ++id) expect_values_exact(c, id);

  // The index shows which array task wrote what: every fragment carries its task, and each
  // task's fragments hold exactly its slice's shards.
  nlohmann::json j = csweep_status(store);
  EXPECT_EQ(j["state"], "complete");
  ASSERT_EQ(j["slices"].size(), 3u);
  for (int k = 0; k < 3; ++k) {
    EXPECT_EQ(j["slices"][k]["slice"], std::to_string(k) + "/3");
    EXPECT_EQ(j["slices"][k]["state"], "complete");
    EXPECT_EQ(j["slices"][k]["shards_done"], j["slices"][k]["shards_total"]);
  }
  std::map<std::string, int64_t> shards_by_task;
  for (const auto& w : j["writers"]) {
    ASSERT_TRUE(w.contains("slurm")) << w.dump();
    const std::string task = w["slurm"]["array_task_id"];
    EXPECT_EQ(w["slurm"]["array_job_id"], "500");
    EXPECT_EQ(w["slurm"]["job_id"], std::to_string(501 + std::stoi(task)));
    EXPECT_EQ(w["slice"], task + "/3");
    EXPECT_EQ(w["file"].get<std::string>().rfind("s" + task + "of3-slurm500_" + task + "-", 0), 0u)
        << w["file"];
    shards_by_task[task] += w["shards"].get<int64_t>();
  }
  EXPECT_EQ(j["writers"].size(), 3u);  // task 0 ran on 2 ranks: one worker, one fragment
  for (int k = 0; k < 3; ++k)
    EXPECT_EQ(shards_by_task[std::to_string(k)], static_cast<int64_t>((n + 2 - k) / 3));

  // Provenance: one run entry per task, each with its slice and ids, all closed.
  ASSERT_EQ(c.provenance["runs"].size(), 3u);
  for (const auto& r : c.provenance["runs"]) {
    EXPECT_TRUE(r.contains("ended")) << r.dump();
    EXPECT_TRUE(r.contains("slice"));
    EXPECT_EQ(r["slurm"]["array_job_id"], "500");
  }

  // A requeued task resumes: nothing left to compute in its slice.
  Child again = spawn(run_as_array_task(0, "500", 1,
                                        {job(), "--store", store.string(), "--executor",
                                         "synthetic", "--slice", "1/3", "--json"}),
                      store.string() + ".again");
  ASSERT_TRUE(wait_for(again, 60));
  ASSERT_EQ(again.exit_code(), 0) << again.output();
  EXPECT_NE(again.output().find("\"shards_done_this_run\":0"), std::string::npos) << again.output();
}

TEST(Slices, RerunOfAnInterruptedSliceResumesOnlyThatSlice) {
  const fs::path store = fresh_dir("resume");
  // Slice 0/2 is interrupted (SIGTERM) part-way; slice 1/2 is never run.
  Child a = spawn(run_command(0, {job(), "--store", store.string(), "--executor",
                                  "synthetic:sleep_ms=40", "--slice", "0/2"}),
                  store.string() + ".a");
  for (int i = 0; i < 400; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    if (!fs::exists(store / "spec.hash")) continue;  // still being created
    if (csweep::store::read_store(store).shards_done >= 5) break;
  }
  ::kill(a.pid, SIGTERM);
  ASSERT_TRUE(wait_for(a, 30));
  EXPECT_EQ(a.exit_code(), 75) << a.output();
  auto c = csweep::store::read_store(store);
  const int64_t before = c.shards_done;
  const int64_t slice_total = static_cast<int64_t>((c.layout.shards.size() + 1) / 2);
  ASSERT_GT(before, 0);
  ASSERT_LT(before, slice_total);
  nlohmann::json j = csweep_status(store);
  ASSERT_EQ(j["slices"].size(), 1u);
  EXPECT_EQ(j["slices"][0]["state"], "interrupted (rerun to resume)");

  Child b = spawn(run_command(0, {job(), "--store", store.string(), "--executor", "synthetic",
                                  "--slice", "0/2", "--json"}),
                  store.string() + ".b");
  ASSERT_TRUE(wait_for(b, 60));
  ASSERT_EQ(b.exit_code(), 0) << b.output();
  EXPECT_NE(b.output().find("\"shards_done_this_run\":" + std::to_string(slice_total - before)),
            std::string::npos)
      << b.output();
  c = csweep::store::read_store(store);
  for (uint32_t id = 0; id < c.layout.shards.size(); ++id)
    EXPECT_EQ(c.shard_done[id], id % 2 == 0 ? 1 : 0);
  EXPECT_EQ(c.duplicate_shards, 0);
  j = csweep_status(store);
  EXPECT_EQ(j["state"], "incomplete");
  EXPECT_EQ(j["slices"][0]["state"], "complete");
}

TEST(Slices, LocksKeepASliceFromRunningTwiceAndKeepWholeRunsApart) {
  const fs::path store = fresh_dir("locks");
  Child first = spawn(run_command(0, {job(), "--store", store.string(), "--executor", "synthetic",
                                      "--slice", "0/2"}),
                      store.string() + ".first");
  ASSERT_TRUE(wait_for(first, 60));
  ASSERT_EQ(first.exit_code(), 0) << first.output();
  {
    HeldLock slice0(store / "lock.s0of2", LOCK_EX);  // slice 0/2 "running"
    Child dup = spawn(run_command(0, {job(), "--store", store.string(), "--executor", "synthetic",
                                      "--slice", "0/2"}),
                      store.string() + ".dup");
    ASSERT_TRUE(wait_for(dup, 60));
    EXPECT_EQ(dup.exit_code(), 2) << dup.output();
    EXPECT_NE(dup.output().find("another csweep run of slice 0/2"), std::string::npos)
        << dup.output();
  }
  {
    HeldLock shared(store / "lock", LOCK_SH);  // some slice running: a whole run must wait
    Child whole =
        spawn(run_command(0, {job(), "--store", store.string(), "--executor", "synthetic"}),
              store.string() + ".whole");
    ASSERT_TRUE(wait_for(whole, 60));
    EXPECT_EQ(whole.exit_code(), 2) << whole.output();
    EXPECT_NE(whole.output().find("lock"), std::string::npos) << whole.output();
    // ... while another slice may run beside it.
    Child other = spawn(run_command(0, {job(), "--store", store.string(), "--executor", "synthetic",
                                        "--slice", "1/2"}),
                        store.string() + ".other");
    ASSERT_TRUE(wait_for(other, 60));
    EXPECT_EQ(other.exit_code(), 0) << other.output();
  }
  {
    HeldLock whole(store / "lock", LOCK_EX);  // a whole run going: no slice may join
    Child s = spawn(run_command(0, {job(), "--store", store.string(), "--executor", "synthetic",
                                    "--slice", "1/2"}),
                    store.string() + ".s");
    ASSERT_TRUE(wait_for(s, 60));
    EXPECT_EQ(s.exit_code(), 2) << s.output();
    EXPECT_NE(s.output().find("whole-sweep"), std::string::npos) << s.output();
  }
  EXPECT_TRUE(csweep::store::read_store(store).complete());
}

TEST(Slices, BadSliceAndForceNewWithASliceAreRefusedInOneLine) {
  const fs::path store = fresh_dir("bad");
  for (const std::string bad : {"3/3", "1", "a/b", "-1/2", "1/0"}) {
    Child c = spawn(run_command(0, {job(), "--store", store.string(), "--executor", "synthetic",
                                    "--slice", bad}),
                    store.string() + ".bad");
    ASSERT_TRUE(wait_for(c, 30));
    EXPECT_NE(c.exit_code(), 0) << bad;
    EXPECT_NE(c.output().find("--slice"), std::string::npos) << bad << ": " << c.output();
    EXPECT_FALSE(fs::exists(store)) << bad;
  }
  Child f = spawn(run_command(0, {job(), "--store", store.string(), "--executor", "synthetic",
                                  "--slice", "0/2", "--force-new"}),
                  store.string() + ".force");
  ASSERT_TRUE(wait_for(f, 30));
  EXPECT_EQ(f.exit_code(), 2) << f.output();
  EXPECT_NE(f.output().find("--force-new"), std::string::npos) << f.output();
}

TEST(Slices, StatusShowsTheSlurmJobsOfTheStoreOnlyWhenThereAreAnyAndSlurmIsInstalled) {
  const fs::path store = fresh_dir("slurm-status");
  Child run = spawn(run_command(0, {job(), "--store", store.string(), "--executor", "synthetic",
                                    "--slice", "0/2"}),
                    store.string() + ".run");
  ASSERT_TRUE(wait_for(run, 60));
  ASSERT_EQ(run.exit_code(), 0) << run.output();
  EXPECT_FALSE(csweep_status(store).contains("slurm_jobs"));  // no STORE/slurm/jobs.jsonl

  // What csweep submit records (cluster/job_record.h).
  fs::create_directories(store / "slurm");
  std::ofstream(store / "slurm" / "jobs.jsonl")
      << R"({"job_id":"987654","role":"sweep","array_tasks":2})"
      << "\n";
  // Slurm absent: nothing extra, no error.
  Child bare = spawn({"env", "PATH=/nonexistent", csweep_bin(), "status", store.string(), "--json"},
                     store.string() + ".bare");
  ASSERT_TRUE(wait_for(bare, 30));
  ASSERT_EQ(bare.exit_code(), 0) << bare.output();
  EXPECT_FALSE(nlohmann::json::parse(bare.output()).contains("slurm_jobs"));

  if (::access("/usr/bin/squeue", X_OK) != 0)
    GTEST_SKIP() << "Slurm is not installed (no /usr/bin/squeue)";
  // Slurm installed: the recorded job is listed with the state Slurm gives (UNKNOWN when no
  // controller knows it), in JSON and in the text table.
  const nlohmann::json j = csweep_status(store);
  ASSERT_TRUE(j.contains("slurm_jobs")) << j.dump();
  ASSERT_GE(j["slurm_jobs"].size(), 1u);
  EXPECT_EQ(j["slurm_jobs"][0]["job_id"].get<std::string>().rfind("987654", 0), 0u)
      << j["slurm_jobs"].dump();
  EXPECT_FALSE(j["slurm_jobs"][0]["state"].get<std::string>().empty());
  Child text = spawn({csweep_bin(), "status", store.string()}, store.string() + ".text");
  ASSERT_TRUE(wait_for(text, 30));
  ASSERT_EQ(text.exit_code(), 0) << text.output();
  EXPECT_NE(text.output().find("slurm:"), std::string::npos) << text.output();
  EXPECT_NE(text.output().find("987654"), std::string::npos) << text.output();
  EXPECT_NE(text.output().find("slice 0/2: "), std::string::npos) << text.output();
}
