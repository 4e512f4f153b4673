#pragma once
// The seam between the worker loop (MPI, store) and the computation (model, analyses).
// A ShardExecutor turns one shard into its cells' values, in the row-major cell order of the
// analysis's grid: result.size() == shard.cells(). It must be deterministic: the same shard
// gives bit-identical values on any rank, any run (same thread count), which is what makes
// re-issued shards and resumed sweeps exact. Throwing (csweep::Error or any std::exception)
// fails that shard only; the worker reports the message to the coordinator.
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "sharding/plan.h"

namespace csweep::jobs {
struct JobSpec;
}
namespace csweep::model {
class Collective;
}

namespace csweep::worker {

class ShardExecutor {
 public:
  virtual ~ShardExecutor();
  virtual std::vector<float> run(const sharding::Shard& shard) = 0;
  // The metric of the unedited clean and corrupted runs for the shard's (analysis, prompt),
  // which reduce needs for the fraction recovered; nullopt when the analysis has none. Called
  // after run() of the same shard (its runs are cached then); deterministic like run().
  struct Baselines {
    double clean = 0.0;
    double corrupted = 0.0;
  };
  virtual std::optional<Baselines> baselines(const sharding::Shard&) { return std::nullopt; }
};

// Where the executor runs; what make_shard_executor may need to pick devices and groups.
struct WorkerContext {
  int rank = 0;  // MPI world rank
  int world_size = 1;
  int worker_index = 0;    // 0..n_workers-1
  std::vector<int> group;  // tensor-parallel group (world ranks, leader first); {rank} without TP
  // The group's communicator when group.size() > 1 (not owned; outlives the executor).
  model::Collective* tensor_parallel = nullptr;
  std::string device;  // this rank's device (rank_device()); "" = the job's model.device
  // "" = the real computation. "synthetic[:key=value,...]" = the synthetic executor
  // (worker/synthetic_executor.h), for tests and benchmarks of the distributed machinery.
  std::string executor;
  // The store: a stage's shards read the cells chosen for them there (store/stage_selection.h).
  std::filesystem::path store_dir;
};

// The one factory `csweep run` calls on every worker.
std::unique_ptr<ShardExecutor> make_shard_executor(const jobs::JobSpec& spec,
                                                   const sharding::Plan& plan,
                                                   const WorkerContext& context);

}  // namespace csweep::worker
