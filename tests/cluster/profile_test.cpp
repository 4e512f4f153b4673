// Cluster profiles: parsing, defaults, and errors that name file:line:column.
#include <gtest/gtest.h>

#include "cluster/profile.h"
#include "common/error.h"
#include "test_util.h"
#include "tests/test_paths.h"

namespace csweep::cluster {
namespace {

std::string error_of(const std::string& yaml) {
  try {
    parse_cluster_profile(yaml, "c.yaml");
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(ClusterProfile, ParsesEveryKey) {
  const ClusterProfile p = parse_cluster_profile(R"(
partition: gpu
account: interp
qos: high
nodes: 4
tasks_per_node: 8
gpus_per_node: 8
gpu_request: gres
gpu_type: h100
cpus_per_task: 12
mem: 480G
time: "1-00:00:00"
signal_seconds: 300
max_requeues: 5
modules: [cuda/12.4, openmpi/4.1]
env: {NCCL_DEBUG: WARN, HF_HOME: /shared/hf}
launcher: mpirun
launcher_args: ["--bind-to", "none"]
extra_sbatch: ["--exclusive", "--constraint=h100"]
store_root: /scratch/sweeps
)",
                                                 "c.yaml");
  EXPECT_EQ(p.partition, "gpu");
  EXPECT_EQ(p.account, "interp");
  EXPECT_EQ(p.qos, "high");
  EXPECT_EQ(p.total_tasks(), 32);
  EXPECT_EQ(p.gpus_per_node, 8);
  EXPECT_EQ(p.gpu_request, GpuRequest::Gres);
  EXPECT_EQ(p.gpu_type, "h100");
  EXPECT_EQ(p.cpus_per_task, 12);
  EXPECT_EQ(p.mem, "480G");
  EXPECT_EQ(p.time, "1-00:00:00");
  EXPECT_EQ(p.signal_seconds, 300);
  EXPECT_EQ(p.max_requeues, 5);
  EXPECT_EQ(p.modules, (std::vector<std::string>{"cuda/12.4", "openmpi/4.1"}));
  ASSERT_EQ(p.env.size(), 2u);
  EXPECT_EQ(p.env[0].first, "NCCL_DEBUG");
  EXPECT_EQ(p.env[1].second, "/shared/hf");
  EXPECT_EQ(p.launcher, Launcher::Mpirun);
  EXPECT_EQ(p.launcher_args, (std::vector<std::string>{"--bind-to", "none"}));
  EXPECT_EQ(p.extra_sbatch.size(), 2u);
  EXPECT_EQ(p.store_root, "/scratch/sweeps");
}

TEST(ClusterProfile, DefaultsAreOneRankSrunWithRequeue) {
  const ClusterProfile p = parse_cluster_profile("partition: debug\n", "c.yaml");
  EXPECT_EQ(p.total_tasks(), 1);
  EXPECT_EQ(p.launcher, Launcher::Srun);
  EXPECT_EQ(p.signal_seconds, 120);
  EXPECT_EQ(p.max_requeues, 3);
  EXPECT_TRUE(p.time.empty());
}

TEST(ClusterProfile, UnknownKeySuggestsTheNearestOne) {
  EXPECT_EQ(error_of("partition: a\ntask_per_node: 2\n"),
            "c.yaml:2:1: unknown key 'task_per_node' (did you mean 'tasks_per_node'?)");
  EXPECT_EQ(error_of("colour: blue\n"), "c.yaml:1:1: unknown key 'colour'");
}

TEST(ClusterProfile, ReportsEveryProblemWithLineAndColumn) {
  const std::string e = error_of(
      "nodes: zero\ntime: soon\nmem: 3X\nlauncher: ssh\nenv: {1BAD: x}\nmax_requeues: -1\n");
  EXPECT_NE(e.find("c.yaml:1:8: nodes: expected an integer, got 'zero'"), std::string::npos) << e;
  EXPECT_NE(e.find("c.yaml:2:7: time: 'soon' is not a Slurm time"), std::string::npos) << e;
  EXPECT_NE(e.find("c.yaml:3:6: mem: '3X' is not a Slurm memory size"), std::string::npos) << e;
  EXPECT_NE(e.find("c.yaml:4:11: launcher: expected 'srun' or 'mpirun', got 'ssh'"),
            std::string::npos)
      << e;
  EXPECT_NE(e.find("c.yaml:5:7: env: '1BAD' is not a valid environment variable name"),
            std::string::npos)
      << e;
  EXPECT_NE(e.find("c.yaml:6:15: max_requeues: -1 is out of range [0, 1000]"), std::string::npos)
      << e;
  EXPECT_EQ(std::count(e.begin(), e.end(), '\n'), 5) << e;
}

TEST(ClusterProfile, RejectsWhatCannotBeADirective) {
  EXPECT_NE(error_of("extra_sbatch: [\"exclusive\"]\n").find("is not an sbatch option"),
            std::string::npos);
  EXPECT_NE(
      error_of("partition: \"a\\nb\"\n").find("c.yaml:1:12: partition: must be a single line"),
      std::string::npos)
      << error_of("partition: \"a\\nb\"\n");
  EXPECT_NE(error_of("nodes: [1]\n").find("c.yaml:1:8: nodes: expected an integer"),
            std::string::npos);
}

TEST(ClusterProfile, YamlSyntaxErrorHasPosition) {
  const std::string e = error_of("nodes: [1, 2\n");
  EXPECT_EQ(e.rfind("c.yaml:", 0), 0u) << e;
  EXPECT_NE(e.find(":2:"), std::string::npos) << e;
}

TEST(ClusterProfile, ExampleProfilesLoad) {
  const std::string dir = csweep::testing::source_path("examples/clusters/").string();
  const ClusterProfile local = load_cluster_profile(dir + "local.yaml");
  EXPECT_EQ(local.launcher, Launcher::Srun);
  const ClusterProfile gpu = load_cluster_profile(dir + "gpu-8x.yaml");
  EXPECT_EQ(gpu.gpus_per_node, 8);
  EXPECT_EQ(gpu.tasks_per_node, 8);
  const ClusterProfile nightly =
      load_cluster_profile(csweep::testing::source_path("examples/nightly/cluster.yaml"));
  EXPECT_GT(nightly.max_requeues, 0);
}

TEST(ClusterProfile, MissingFileNamesIt) {
  try {
    load_cluster_profile("/nonexistent/c.yaml");
    FAIL();
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "/nonexistent/c.yaml: cannot read cluster profile");
  }
}

}  // namespace
}  // namespace csweep::cluster
