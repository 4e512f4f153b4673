#pragma once
// A cluster profile (cluster.yaml): how a sweep is laid out on a Slurm cluster — which
// partition and account, how many nodes and ranks, GPUs, limits, the launcher, and how
// preemption is handled. Parsed with yaml-cpp and validated like job files: every problem is
// reported at once as "FILE:LINE:COLUMN: reason" lines (unknown keys get a "did you mean").
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

namespace csweep::cluster {

enum class Launcher { Srun, Mpirun };

// How GPUs are requested: `--gpus-per-node=N` (Slurm >= 19.05) or `--gres=gpu[:TYPE]:N`
// (clusters that configure GPUs only as generic resources).
enum class GpuRequest { GpusPerNode, Gres };

struct ClusterProfile {
  std::string file;  // where the profile came from, for messages and the script header

  std::string partition, account, qos;  // empty = cluster default, option omitted
  int nodes = 1;
  int tasks_per_node = 1;  // MPI ranks per node
  int gpus_per_node = 0;
  GpuRequest gpu_request = GpuRequest::GpusPerNode;
  std::string gpu_type;  // optional, e.g. "a100" → --gres=gpu:a100:8
  int cpus_per_task = 1;
  std::string mem;                   // per node, Slurm syntax: 16G, 4000M; empty = default
  std::string time;                  // Slurm syntax: MM, HH:MM:SS, D-HH:MM; empty = default
  int signal_seconds = 120;          // --signal=B:USR1@N: warning before the time limit
  int max_requeues = 3;              // requeue after drain at most this many times
  std::vector<std::string> modules;  // `module load` each, in order
  std::vector<std::pair<std::string, std::string>> env;  // exported before the step, in file order
  Launcher launcher = Launcher::Srun;
  std::vector<std::string> launcher_args;  // extra arguments to srun / mpirun
  std::vector<std::string> extra_sbatch;   // verbatim "#SBATCH <line>" lines
  std::string store_root;                  // default parent of stores: STORE_ROOT/<job name>

  int total_tasks() const { return nodes * tasks_per_node; }
};

// Reads and validates a cluster.yaml. Throws csweep::Error listing every problem.
ClusterProfile load_cluster_profile(const std::filesystem::path& file);
// Same, from text (file_name is used only in messages).
ClusterProfile parse_cluster_profile(const std::string& yaml_text, const std::string& file_name);

const char* launcher_name(Launcher launcher);  // "srun" | "mpirun"

}  // namespace csweep::cluster
