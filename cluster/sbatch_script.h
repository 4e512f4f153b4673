#pragma once
// Renders the batch scripts `csweep submit` writes: the sweep script (one MPI world, or one
// array task per slice) and the reduce script chained after it. The scripts are meant to be
// read: a commented header says where every value came from, and they are reproducible
// (the same inputs give the same bytes; no timestamps).
//
// Preemption protocol of the sweep script:
//   - `#SBATCH --signal=B:USR1@N` makes Slurm signal the batch shell N seconds before the
//     time limit (or `scancel --signal=USR1 --batch JOB` does it by hand);
//   - the step runs in the background and the shell `wait`s in a loop, because bash defers
//     traps while a foreground child runs;
//   - the USR1 trap forwards the signal once to the launcher (srun/mpirun forward it to the
//     ranks); csweep drains in-flight shards and exits 75 (EX_TEMPFAIL);
//   - on 75 after a USR1 (never after TERM, i.e. scancel) the script requeues its own job
//     (`scontrol requeue`), unless SLURM_RESTART_COUNT has reached max_requeues; `--requeue
//     --open-mode=append` keep the job and its log.
//   The requeued run finds the store and computes only what is missing.
//
// Placement (cluster/rank_placement.h): on a GPU profile rank 0 is an extra, CPU-only task
// on the first node, so the script writes a host list (one line per rank, in rank order) and
// launches the world from it: srun --overcommit --distribution=arbitrary with SLURM_HOSTFILE,
// or mpirun --hostfile. CPU profiles launch the allocation's tasks as they are.
#include <filesystem>
#include <string>
#include <vector>

#include "cluster/profile.h"
#include "cluster/rank_placement.h"

namespace csweep::cluster {

inline constexpr int kDrainExitCode = 75;  // csweep run: drained on a signal, resumable

struct ScriptRequest {
  ClusterProfile profile;
  std::filesystem::path job_file;     // absolute
  std::filesystem::path store;        // absolute
  std::filesystem::path step_binary;  // the csweep the nodes run (absolute)
  std::string job_name;               // shown by squeue; sanitized with slurm_job_name()
  RankPlacement placement;            // ranks and nodes of one MPI world (per array task)
  int tensor_parallel = 1;            // from the plan, recorded in the header
  long long shards = 0;               // from the plan, recorded in the header
  int array_tasks = 0;                // 0: no array; N: tasks 0..N-1 run slices k/N
  std::string after;                  // sweep depends afterok on this job id (may be empty)
  // Chained stages (`csweep submit --chain-stages`): this job runs `csweep run --level
  // level` of `levels` levels; -1: the whole plan in one job.
  int level = -1;
  int levels = 1;
  long long level_shards = 0;  // the level's shards (header)
  std::string command_line;    // the `csweep submit ...` that produced it (header)
};

std::string render_sweep_script(const ScriptRequest& request);
// The reduce job waits for `sweep_job_id` (afterok; a dry run passes a placeholder; with
// chained stages, the last level's job).
std::string render_reduce_script(const ScriptRequest& request, const std::string& sweep_job_id);

// Where the scripts and logs live: STORE/slurm/.
std::filesystem::path slurm_dir(const std::filesystem::path& store);

}  // namespace csweep::cluster
