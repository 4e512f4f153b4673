// Batch scripts: they parse, they carry the right directives, no value can inject shell, and
// the preemption logic (USR1 → drain → exit 75 → requeue, capped) works when executed with
// stand-in srun/scontrol on PATH. The same scripts run on a real cluster in slurm_test.cpp.
#include <gtest/gtest.h>

#include "cluster/plan_query.h"
#include "cluster/profile.h"
#include "cluster/rank_placement.h"
#include "cluster/sbatch_script.h"
#include "cluster/shell_quote.h"
#include "common/error.h"
#include "test_util.h"
#include "tests/test_paths.h"

namespace csweep::cluster {
namespace {
using testing::read_text;
using testing::run_bash;
using testing::TempDir;
using testing::write_text;

const std::string kEvil = "x $(touch CANARY) `touch CANARY` ' \" \\ ; touch CANARY & $HOME *";

ScriptRequest request_in(const std::filesystem::path& dir) {
  ScriptRequest r;
  r.profile = parse_cluster_profile(
      "nodes: 2\ntasks_per_node: 1\nsignal_seconds: 30\nmax_requeues: 2\n", "c.yaml");
  r.job_file = dir / ("job " + kEvil + ".yaml");
  r.store = dir / ("store " + kEvil);
  r.step_binary = dir / "bin dir" / "csweep";
  r.job_name = "name " + kEvil;
  r.placement = place_ranks(r.profile, 2);
  r.shards = 10;
  r.command_line = "csweep submit\nrm -rf /";
  return r;
}

// A directory with fake srun / mpirun / scontrol that record their arguments (one per line,
// NUL-safe enough for these strings) and exit with $FAKE_STEP_RC. The launchers also keep the
// host list SLURM_HOSTFILE names; `scontrol show hostnames` prints $FAKE_NODES one per line.
std::filesystem::path fake_bin(const std::filesystem::path& dir) {
  const auto bin = dir / "fakebin";
  const std::string launcher =
      "#!/bin/bash\nprintf '%s\\n' \"$@\" > \"$FAKE_LOG/$(basename \"$0\").args\"\n"
      "printf '%s' \"$EVIL_ENV\" > \"$FAKE_LOG/env.value\"\n"
      "if [ -n \"${SLURM_HOSTFILE:-}\" ]; then cp \"$SLURM_HOSTFILE\" \"$FAKE_LOG/hostfile.seen\"; "
      "fi\n"
      "if [ -n \"${FAKE_WAIT_USR1:-}\" ]; then trap 'exit 75' USR1 TERM; touch "
      "\"$FAKE_LOG/started\";"
      " for i in $(seq 100); do sleep 0.1; done; exit 0; fi\n"
      "exit \"${FAKE_STEP_RC:-0}\"\n";
  write_text(bin / "srun", launcher);
  write_text(bin / "mpirun", launcher);
  write_text(
      bin / "scontrol",
      "#!/bin/bash\nif [ \"$1 $2\" = \"show hostnames\" ]; then printf '%s\\n' $FAKE_NODES; exit; "
      "fi\nprintf '%s\\n' \"$@\" > \"$FAKE_LOG/scontrol.args\"\n");
  for (const char* tool : {"srun", "mpirun", "scontrol"})
    std::filesystem::permissions(bin / tool, std::filesystem::perms::owner_all);
  return bin;
}

CommandResult run_script(const std::filesystem::path& dir, const std::string& script,
                         std::vector<std::string> env) {
  write_text(dir / "job.sbatch", script);
  env.insert(env.end(), {"PATH=" + fake_bin(dir).string() + ":/usr/bin:/bin",
                         "FAKE_LOG=" + dir.string(), "SLURM_JOB_ID=4242"});
  return run_bash("cd " + shell_quote(dir.string()) + " && bash ./job.sbatch", env);
}

TEST(ShellQuote, RoundTripsThroughBash) {
  for (const std::string& value :
       {std::string("plain"), kEvil, std::string("new\nline"), std::string("")}) {
    CommandResult r = run_bash("printf '%s' " + shell_quote(value));
    EXPECT_EQ(r.out, value);
  }
  EXPECT_EQ(sbatch_quote("a \"b\" \\c", "x"), "\"a \\\"b\\\" \\\\c\"");
  EXPECT_THROW(sbatch_quote("a\nb", "--output"), Error);
  EXPECT_EQ(slurm_filename_escape("/s/100%x"), "/s/100%%x");
  EXPECT_EQ(slurm_job_name("a b$(c)"), "a_b__c_");
}

TEST(SweepScript, HasThePreemptionDirectivesAndParses) {
  TempDir dir;
  const std::string s = render_sweep_script(request_in(dir.path()));
  EXPECT_NE(s.find("#SBATCH --signal=B:USR1@30\n"), std::string::npos);
  EXPECT_NE(s.find("#SBATCH --requeue\n"), std::string::npos);
  EXPECT_NE(s.find("#SBATCH --open-mode=append\n"), std::string::npos);
  EXPECT_NE(s.find("#SBATCH --nodes=2\n#SBATCH --ntasks=2\n"), std::string::npos);
  EXPECT_NE(s.find("MAX_REQUEUES=2\n"), std::string::npos);
  EXPECT_EQ(s.find("--array"), std::string::npos);
  EXPECT_NE(s.find("#   command:  csweep submit\\nrm -rf /\n"), std::string::npos)
      << "a newline must not end a comment";
  write_text(dir.path() / "s.sh", s);
  CommandResult r = run_bash("bash -n " + shell_quote((dir.path() / "s.sh").string()));
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(s, render_sweep_script(request_in(dir.path()))) << "scripts must be reproducible";
}

TEST(SweepScript, NoValueCanInjectShell) {
  TempDir dir;
  ScriptRequest r = request_in(dir.path());
  r.profile.env = {{"EVIL_ENV", kEvil}};
  r.profile.launcher_args = {kEvil};
  CommandResult result = run_script(dir.path(), render_sweep_script(r), {});
  EXPECT_EQ(result.exit_code, 0) << result.out << result.err;
  EXPECT_FALSE(std::filesystem::exists(dir.path() / "CANARY"));
  // srun got exactly: its options, the launcher arg, then the step with every value intact.
  EXPECT_EQ(read_text(dir.path() / "srun.args"),
            "--mpi=pmix\n--kill-on-bad-exit=1\n" + kEvil + "\n" + r.step_binary.string() +
                "\nrun\n" + r.job_file.string() + "\n--store\n" + r.store.string() + "\n");
  EXPECT_EQ(read_text(dir.path() / "env.value"), kEvil);
  EXPECT_FALSE(std::filesystem::exists(dir.path() / "scontrol.args")) << "no requeue after success";
}

TEST(SweepScript, NewlineInAPathThatReachesADirectiveIsRefused) {
  TempDir dir;
  ScriptRequest r = request_in(dir.path());
  r.store = dir.path() / "a\nb";
  try {
    render_sweep_script(r);
    FAIL();
  } catch (const Error& e) {
    // Named after the option the user gave (issue 15), not the directive it reaches.
    EXPECT_EQ(
        std::string(e.what()),
        "--store: contains a line break or NUL, which cannot be written into an #SBATCH line");
  }
  try {
    render_reduce_script(r, "123");
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(
        std::string(e.what()),
        "--store: contains a line break or NUL, which cannot be written into an #SBATCH line");
  }
}

// Runs the script in the background with a step that waits for USR1 (and then exits 75),
// sends `signal` to the batch shell once the step runs; returns the shell's output and "rc=N".
CommandResult run_and_signal(const std::filesystem::path& dir, const std::string& script,
                             const std::string& signal, std::vector<std::string> env) {
  write_text(dir / "job.sbatch", script);
  std::filesystem::remove(dir / "started");
  env.insert(env.end(), {"PATH=" + fake_bin(dir).string() + ":/usr/bin:/bin",
                         "FAKE_LOG=" + dir.string(), "SLURM_JOB_ID=77", "FAKE_WAIT_USR1=1"});
  // `cd` first and on its own: `cd X && cmd &` would background a subshell, not the script.
  return run_bash("cd " + shell_quote(dir.string()) +
                      "; bash ./job.sbatch > out.txt 2>&1 & pid=$!; for i in $(seq 100); do [ -e "
                      "started ] && break;"
                      " sleep 0.05; done; kill -" +
                      signal + " $pid; wait $pid; echo \"rc=$?\"",
                  env);
}

TEST(SweepScript, Usr1IsForwardedAndTheDrainedJobRequeuesItself) {
  TempDir dir;
  CommandResult r =
      run_and_signal(dir.path(), render_sweep_script(request_in(dir.path())), "USR1", {});
  const std::string out = read_text(dir.path() / "out.txt");
  EXPECT_NE(r.out.find("rc=0"), std::string::npos) << r.out << out;
  EXPECT_EQ(read_text(dir.path() / "scontrol.args"), "requeue\n77\n") << out;
  EXPECT_NE(out.find("USR1: asking csweep to drain"), std::string::npos) << out;
}

TEST(SweepScript, RequeuesStopAtTheCap) {
  TempDir dir;
  CommandResult r = run_and_signal(dir.path(), render_sweep_script(request_in(dir.path())), "USR1",
                                   {"SLURM_RESTART_COUNT=2"});
  EXPECT_NE(r.out.find("rc=75"), std::string::npos) << r.out;
  EXPECT_NE(read_text(dir.path() / "out.txt").find("requeue limit (2) is reached"),
            std::string::npos);
  EXPECT_FALSE(std::filesystem::exists(dir.path() / "scontrol.args"));
}

TEST(SweepScript, TermStopsWithoutRequeue) {
  TempDir dir;
  // The step exits 75 on TERM too (the fake maps both to a drain): still no requeue.
  CommandResult r =
      run_and_signal(dir.path(), render_sweep_script(request_in(dir.path())), "TERM", {});
  EXPECT_FALSE(std::filesystem::exists(dir.path() / "scontrol.args"))
      << read_text(dir.path() / "out.txt");
  EXPECT_NE(read_text(dir.path() / "out.txt").find("TERM: stopping the step"), std::string::npos);
}

TEST(SweepScript, StepStatusIsTheJobStatusWithoutASignal) {
  TempDir dir;
  const std::string s = render_sweep_script(request_in(dir.path()));
  EXPECT_EQ(run_script(dir.path(), s, {"FAKE_STEP_RC=3"}).exit_code, 3)
      << "a failing step fails the job";
  EXPECT_EQ(run_script(dir.path(), s, {"FAKE_STEP_RC=75"}).exit_code, 75)
      << "75 without our USR1: no requeue";
  EXPECT_FALSE(std::filesystem::exists(dir.path() / "scontrol.args"));
}

TEST(SweepScript, ArrayTasksRunTheirSlice) {
  TempDir dir;
  ScriptRequest r = request_in(dir.path());
  r.array_tasks = 3;
  r.after = "12";
  const std::string s = render_sweep_script(r);
  EXPECT_NE(s.find("#SBATCH --array=0-2\n"), std::string::npos);
  EXPECT_NE(s.find("#SBATCH --dependency=\"afterok:12\"\n"), std::string::npos);
  EXPECT_NE(s.find("%x-%A_%a.out"), std::string::npos);
  CommandResult result = run_script(dir.path(), s, {"SLURM_ARRAY_TASK_ID=2"});
  EXPECT_EQ(result.exit_code, 0) << result.err;
  const std::string args = read_text(dir.path() / "srun.args");
  EXPECT_NE(args.find("\n--slice\n2/3\n"), std::string::npos) << args;
}

// A chained stage level: `csweep run --level K` (sliced when an array), afterok the previous
// level's job, dropped by Slurm when that one failed.
TEST(SweepScript, AChainedLevelRunsItsLevelAfterThePrevious) {
  TempDir dir;
  ScriptRequest r = request_in(dir.path());
  r.level = 1;
  r.levels = 3;
  r.level_shards = 4;
  r.array_tasks = 2;
  r.after = "77";
  const std::string s = render_sweep_script(r);
  EXPECT_NE(s.find("#SBATCH --dependency=\"afterok:77\"\n#SBATCH --kill-on-invalid-dep=yes\n"),
            std::string::npos)
      << s;
  EXPECT_NE(s.find("#SBATCH --job-name=\"" + slurm_job_name(r.job_name + "-L1") + "\"\n"),
            std::string::npos)
      << s;
  EXPECT_NE(
      s.find("#   level:    stage level 1 of 0-2 (csweep run --level 1: 4 shards); starts after "
             "level 0's job succeeded (afterok)\n"),
      std::string::npos)
      << s;
  CommandResult result = run_script(dir.path(), s, {"SLURM_ARRAY_TASK_ID=1"});
  EXPECT_EQ(result.exit_code, 0) << result.err;
  const std::string args = read_text(dir.path() / "srun.args");
  EXPECT_NE(args.find("\n--level\n1\n--slice\n1/2\n"), std::string::npos) << args;
  // Level 0 waits for nothing but --after, and a whole-plan job has no level at all.
  r.level = 0;
  r.after.clear();
  EXPECT_EQ(render_sweep_script(r).find("--dependency"), std::string::npos);
  r.level = -1;
  EXPECT_EQ(render_sweep_script(r).find("--level"), std::string::npos);
}

TEST(ReduceScript, WaitsForTheSweepAndRunsReduce) {
  TempDir dir;
  const std::string s = render_reduce_script(request_in(dir.path()), "991");
  EXPECT_NE(s.find("#SBATCH --dependency=\"afterok:991\"\n"), std::string::npos);
  EXPECT_NE(s.find("#SBATCH --kill-on-invalid-dep=yes\n"), std::string::npos);
  EXPECT_NE(s.find("#SBATCH --ntasks=1\n"), std::string::npos);
  write_text(dir.path() / "r.sh", s);
  EXPECT_EQ(run_bash("bash -n " + shell_quote((dir.path() / "r.sh").string())).exit_code, 0);
}

TEST(GpuProfile, RequestsGpusTheWayTheProfileSays) {
  TempDir dir;
  ScriptRequest r = request_in(dir.path());
  r.profile.gpus_per_node = 8;
  EXPECT_NE(render_sweep_script(r).find("#SBATCH --gpus-per-node=8\n"), std::string::npos);
  r.profile.gpu_request = GpuRequest::Gres;
  r.profile.gpu_type = "a100";
  EXPECT_NE(render_sweep_script(r).find("#SBATCH --gres=gpu:a100:8\n"), std::string::npos);
}

// examples/clusters/gpu-8x.yaml (4 nodes x 8 tasks, 8 GPUs each) with a world of 33 ranks:
// 32 worker slots allocated, rank 0 an extra task on the first node.
ScriptRequest gpu_request_in(const std::filesystem::path& dir, Launcher launcher) {
  ScriptRequest r = request_in(dir);
  r.profile = load_cluster_profile(csweep::testing::source_path("examples/clusters/gpu-8x.yaml"));
  r.profile.launcher = launcher;
  r.profile.modules.clear();  // no `module` command here
  r.placement = place_ranks(r.profile, ranks_to_offer(r.profile));
  r.tensor_parallel = 8;
  std::filesystem::create_directories(
      slurm_dir(r.store));  // submit makes it; the host list goes there
  return r;
}

// What the GPU layout must give: rank 0 and the first group of 8 on n1, then 8 per node.
const std::string kGpuHostList = [] {
  std::string list;
  for (int rank = 0; rank < 33; ++rank) {
    list += "n";
    list += std::to_string(rank == 0 ? 1 : (rank - 1) / 8 + 1);
    list += "\n";
  }
  return list;
}();

TEST(GpuProfile, WorkersFillTheNodesAndRankZeroIsAnExtraTaskOnTheFirst) {
  TempDir dir;
  const ScriptRequest r = gpu_request_in(dir.path(), Launcher::Srun);
  const std::string s = render_sweep_script(r);
  EXPECT_NE(s.find("#SBATCH --nodes=4\n#SBATCH --ntasks=32\n#SBATCH --ntasks-per-node=8\n"),
            std::string::npos)
      << s;
  EXPECT_NE(s.find("#SBATCH --gpus-per-node=8\n"), std::string::npos);
  EXPECT_NE(s.find("10 shards, tensor parallel 8, 33 ranks on 4 node(s) per MPI world\n"),
            std::string::npos)
      << s;
  EXPECT_NE(s.find("#             node 1: ranks 0-8, node 2: ranks 9-16, node 3: ranks 17-24, "
                   "node 4: ranks 25-32\n"),
            std::string::npos)
      << s;
  EXPECT_NE(s.find("RANKS=33\nTASKS_PER_NODE=8\nNODES=4\n"), std::string::npos);
  EXPECT_NE(s.find("scontrol show hostnames \"${SLURM_JOB_NODELIST:-}\""), std::string::npos);
  EXPECT_NE(s.find("export SLURM_HOSTFILE=\"$hostfile\"\n"), std::string::npos);
  write_text(dir.path() / "s.sh", s);
  CommandResult syntax = run_bash("bash -n " + shell_quote((dir.path() / "s.sh").string()));
  EXPECT_EQ(syntax.exit_code, 0) << syntax.err;

  // Run it: the host list srun reads places rank 0 and ranks 1-8 on the first node.
  CommandResult run =
      run_script(dir.path(), s, {"FAKE_NODES=n1 n2 n3 n4", "SLURM_JOB_NODELIST=n[1-4]"});
  EXPECT_EQ(run.exit_code, 0) << run.out << run.err;
  EXPECT_EQ(read_text(dir.path() / "hostfile.seen"), kGpuHostList);
  EXPECT_EQ(read_text(dir.path() / "srun.args")
                .rfind("--mpi=pmix\n--kill-on-bad-exit=1\n--overcommit\n--distribution=arbitrary\n"
                       "--ntasks=33\n--cpu-bind=cores\n" +
                           r.step_binary.string() + "\nrun\n",
                       0),
            0u)
      << read_text(dir.path() / "srun.args");
  EXPECT_EQ(read_text(slurm_dir(r.store) / "hosts-4242.txt"), kGpuHostList);
}

TEST(GpuProfile, MpirunMapsBySlotFromTheSameHostList) {
  TempDir dir;
  const ScriptRequest r = gpu_request_in(dir.path(), Launcher::Mpirun);
  CommandResult run = run_script(dir.path(), render_sweep_script(r),
                                 {"FAKE_NODES=n1 n2 n3 n4", "SLURM_JOB_NODELIST=n[1-4]"});
  EXPECT_EQ(run.exit_code, 0) << run.out << run.err;
  const std::string hostfile = (slurm_dir(r.store) / "hosts-4242.txt").string();
  EXPECT_EQ(read_text(dir.path() / "mpirun.args")
                .rfind("--oversubscribe\n--hostfile\n" + hostfile +
                           "\n-np\n33\n--cpu-bind=cores\n" + r.step_binary.string() + "\n",
                       0),
            0u)
      << read_text(dir.path() / "mpirun.args");
  EXPECT_EQ(read_text(hostfile), kGpuHostList);
  // mpirun starts its daemons with srun, which must not follow the ranks' host list.
  EXPECT_FALSE(std::filesystem::exists(dir.path() / "hostfile.seen"));
}

TEST(GpuProfile, TooFewNodesInTheAllocationStopsBeforeTheLaunch) {
  TempDir dir;
  CommandResult run =
      run_script(dir.path(), render_sweep_script(gpu_request_in(dir.path(), Launcher::Srun)),
                 {"FAKE_NODES=n1 n2 n3", "SLURM_JOB_NODELIST=n[1-3]"});
  EXPECT_EQ(run.exit_code, 1);
  EXPECT_NE(run.err.find("csweep-slurm: the allocation has 3 node(s) (n[1-3]), the placement "
                         "needs 4"),
            std::string::npos)
      << run.err;
  EXPECT_FALSE(std::filesystem::exists(dir.path() / "srun.args"));
}

TEST(CpuProfile, LaunchesTheAllocationWithoutAHostList) {
  TempDir dir;
  ScriptRequest r = request_in(dir.path());
  r.profile.tasks_per_node = 2;
  r.placement = place_ranks(r.profile, ranks_to_offer(r.profile));
  const std::string s = render_sweep_script(r);
  EXPECT_NE(s.find("#SBATCH --nodes=2\n#SBATCH --ntasks=4\n#SBATCH --ntasks-per-node=2\n"),
            std::string::npos)
      << s;
  EXPECT_EQ(s.find("hostnames"), std::string::npos);
  EXPECT_EQ(s.find("SLURM_HOSTFILE"), std::string::npos);
  EXPECT_EQ(s.find("#   ranks:"), std::string::npos);
  EXPECT_NE(s.find("launcher=(srun --mpi=pmix --kill-on-bad-exit=1)\n"), std::string::npos);
}

TEST(PlanQuery, ReadsTheFieldsSubmitNeeds) {
  PlanSummary s = plan_summary_from_json(
      nlohmann::json::parse(
          R"({"shards": [1,2,3], "layout": {"tensor_parallel": 2, "n_ranks": 5}})"),
      8, "p");
  EXPECT_EQ(s.shards, 3);
  EXPECT_EQ(s.tensor_parallel, 2);
  EXPECT_EQ(s.ranks, 5);
  // The shape `csweep plan --json` prints.
  s = plan_summary_from_json(
      nlohmann::json::parse(R"({"format": "csweep-plan", "job": {"hash": "ab"},
      "totals": {"units": 90, "shards": 12}, "ranks": {"n_ranks": 4, "tensor_parallel": 1, "coordinator": 0}})"),
      4, "p");
  EXPECT_EQ(s.shards, 12);
  EXPECT_EQ(s.ranks, 4);
  EXPECT_EQ(s.tensor_parallel, 1);
  EXPECT_EQ(s.stage_levels, 1);
  EXPECT_TRUE(s.level_shards.empty());
  // Stage levels: totals.stage_levels and each analysis's level and shards.
  s = plan_summary_from_json(nlohmann::json::parse(R"({"totals": {"shards": 9, "stage_levels": 3},
      "analyses": [{"level": 0, "shards": 4}, {"level": 1, "shards": 2}, {"level": 0, "shards": 1},
                   {"level": 2, "shards": 2}]})"),
                             4, "p");
  EXPECT_EQ(s.stage_levels, 3);
  EXPECT_EQ(s.level_shards, (std::vector<long long>{5, 2, 2}));
  EXPECT_THROW(plan_summary_from_json(nlohmann::json::parse(R"({"ranks": 4})"), 8, "p"), Error);
  EXPECT_THROW(
      plan_summary_from_json(nlohmann::json::parse(R"({"ranks": 9, "shards": 1})"), 8, "p"), Error);
  EXPECT_THROW(plan_summary_from_json(nlohmann::json::parse(R"({"shards": 1, "analyses":
      [{"level": 1, "shards": 1}]})"),
                                      8, "p"),
               Error);
}

// --chain-stages: one script per level, each afterok the one before, reduce afterok the last;
// --array splits each level (capped at its shards); --array without it is refused for stages.
TEST(SubmitCommand, ChainStagesDryRunPrintsOneJobPerLevel) {
  TempDir dir;
  const std::string standin = std::string(CSWEEP_CLUSTER_TEST_DIR) + "/standin_csweep.sh";
  write_text(dir.path() / "job.yaml", "shards: 3\nlevels: 3\nshard_seconds: 0\n");
  write_text(dir.path() / "c.yaml", "nodes: 1\ntasks_per_node: 2\n");
  const std::vector<std::string> submit = {CSWEEP_SLURM_CLI,
                                           "submit",
                                           (dir.path() / "job.yaml").string(),
                                           "--cluster",
                                           (dir.path() / "c.yaml").string(),
                                           "--store",
                                           (dir.path() / "st").string(),
                                           "--step-binary",
                                           standin,
                                           "--dry-run",
                                           "--array",
                                           "4"};
  CommandResult r = run_command(submit);
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("has stages (from:), whose cells one coordinator chooses from every source "
                       "shard; add --chain-stages"),
            std::string::npos)
      << r.err;

  auto chained = submit;
  chained.push_back("--chain-stages");
  r = run_command(chained);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  for (int level = 0; level < 3; ++level) {
    const std::string l = std::to_string(level);
    EXPECT_NE(r.out.find("step+=(--level " + l + ")\n"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("(csweep run --level " + l + ": 3 shards)"), std::string::npos) << r.out;
    const std::string wait =
        "#SBATCH --dependency=\"afterok:<LEVEL_" + std::to_string(level - 1) + "_JOB_ID>\"\n";
    EXPECT_EQ(r.out.find(wait) != std::string::npos, level > 0) << r.out;
  }
  EXPECT_EQ(r.out.find("step+=(--level 3)"), std::string::npos);
  // 3 shards a level: 3 tasks each, not 4.
  EXPECT_EQ(r.out.find("#SBATCH --array=0-3\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("#SBATCH --array=0-2\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("# ---- reduce job (submitted afterok) ----"), std::string::npos);
  EXPECT_NE(r.out.find("#SBATCH --dependency=\"afterok:<LEVEL_2_JOB_ID>\"\n#SBATCH "
                       "--kill-on-invalid-dep=yes\n"),
            std::string::npos)
      << r.out;
  EXPECT_FALSE(std::filesystem::exists(dir.path() / "st")) << "a dry run writes nothing";
}

// The command itself: --dry-run prints the scripts and submits nothing; bad input → one line,
// exit 2.
TEST(SubmitCommand, DryRunPrintsScriptsAndBadInputIsOneLine) {
  TempDir dir;
  const std::string cli = CSWEEP_SLURM_CLI;
  const std::string standin = std::string(CSWEEP_CLUSTER_TEST_DIR) + "/standin_csweep.sh";
  write_text(dir.path() / "job.yaml", "shards: 5\nshard_seconds: 0\n");
  write_text(dir.path() / "c.yaml", "nodes: 1\ntasks_per_node: 2\n");
  CommandResult r =
      run_command({cli, "submit", (dir.path() / "job.yaml").string(), "--cluster",
                   (dir.path() / "c.yaml").string(), "--store", (dir.path() / "st").string(),
                   "--step-binary", standin, "--dry-run", "--array", "2"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("#SBATCH --array=0-1\n"), std::string::npos);
  EXPECT_NE(r.out.find("#   plan:     5 shards, tensor parallel 1, 2 ranks on 1 node(s)"),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("afterok:<SWEEP_JOB_ID>"), std::string::npos);
  EXPECT_FALSE(std::filesystem::exists(dir.path() / "st")) << "a dry run writes nothing";

  write_text(dir.path() / "bad.yaml", "nodes: 1\nlauncher: pbs\n");
  r = run_command({cli, "submit", (dir.path() / "job.yaml").string(), "--cluster",
                   (dir.path() / "bad.yaml").string(), "--store", "x", "--step-binary", standin,
                   "--dry-run"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.err, "csweep: " + (dir.path() / "bad.yaml").string() +
                       ":2:11: launcher: expected 'srun' or 'mpirun', got 'pbs'\n");

  r = run_command({cli, "submit", (dir.path() / "job.yaml").string(), "--cluster",
                   (dir.path() / "c.yaml").string(), "--store", "x", "--step-binary", standin,
                   "--dry-run", "--after", "1;rm"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("--after: '1;rm' is not a Slurm job id"), std::string::npos) << r.err;

  r = run_command({cli, "cancel", (dir.path()).string()});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("no Slurm jobs recorded for this store"), std::string::npos) << r.err;
}

// The plan is offered every GPU slot plus rank 0: 33 ranks for examples/clusters/gpu-8x.yaml
// (the stand-in plans with every rank offered), laid out on the profile's 4 nodes.
TEST(SubmitCommand, AGpuProfileOffersThePlanOneRankMoreThanItsSlots) {
  TempDir dir;
  write_text(dir.path() / "job.yaml", "shards: 64\nshard_seconds: 0\n");
  CommandResult r =
      run_command({CSWEEP_SLURM_CLI, "submit", (dir.path() / "job.yaml").string(), "--cluster",
                   csweep::testing::source_path("examples/clusters/gpu-8x.yaml").string(),
                   "--store", (dir.path() / "st").string(), "--step-binary",
                   std::string(CSWEEP_CLUSTER_TEST_DIR) + "/standin_csweep.sh", "--dry-run"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("#   plan:     64 shards, tensor parallel 1, 33 ranks on 4 node(s)"),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("#SBATCH --nodes=4\n#SBATCH --ntasks=32\n#SBATCH --ntasks-per-node=8\n"),
            std::string::npos);
  EXPECT_NE(r.out.find("RANKS=33\n"), std::string::npos);
}

}  // namespace
}  // namespace csweep::cluster
