#pragma once
// A worker rank's side of the protocol (orchestrator/protocol.h): HELLO, wait for START,
// build the executor and the fragment, READY, then run ASSIGNed shards until STOP. Under
// tensor parallelism the rank is a group's leader (as above, relaying each shard and the STOP
// to its members) or a member (runs what its leader relays, writes nothing).
// Returns the exit code the coordinator chose.
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "orchestrator/comm.h"
#include "orchestrator/coordinator.h"
#include "orchestrator/sweep_setup.h"
#include "store/baselines.h"
#include "store/fragment_writer.h"
#include "worker/shard_executor.h"

namespace csweep::worker {

struct WorkerOptions {
  std::filesystem::path job;
  std::filesystem::path store;  // empty: the job's store
  std::string executor;
  double heartbeat_s = 1.0;
  store::Slice slice;   // recorded in the fragment's name and attributes
  int local_index = 0;  // among the worker ranks on this host (rank_device.h)
  // Makes the communicator of a tensor-parallel group from its world ranks (leader first) for
  // tensors on `device`; collective over those ranks only. Needed when the job's
  // model.tensor_parallel > 1.
  std::function<std::unique_ptr<model::Collective>(const std::vector<int>& world_ranks,
                                                   const std::string& device)>
      make_group;
};

int run_worker(orchestrator::Comm& comm, const WorkerOptions& options);

// Runs one shard and makes it durable: executor -> fragment. Shared by the worker loop and
// the in-process runner.
class ShardPipeline : public orchestrator::LocalShardRunner {
 public:
  ShardPipeline(const orchestrator::SweepSetup& setup, const std::filesystem::path& store_dir,
                const WorkerContext& context, const store::Slice& slice = {});
  orchestrator::ShardOutcome run(uint32_t shard) override;
  void close() override;

  // run() in two steps, so a group's leader can wait for its members in between: compute
  // the values (and, when wants_baselines, the baselines), then make them durable.
  struct Computed {
    uint32_t shard = 0;
    orchestrator::ShardOutcome outcome;
    std::vector<float> values;
    std::optional<ShardExecutor::Baselines> baselines;
  };
  bool wants_baselines(uint32_t shard) const;
  Computed compute(uint32_t shard);
  void commit(const Computed& computed);  // throws on a store failure

 private:
  const orchestrator::SweepSetup& setup_;
  std::unique_ptr<ShardExecutor> executor_;
  std::unique_ptr<store::FragmentWriter> writer_;
  std::unique_ptr<store::BaselinesWriter> baselines_;
};

}  // namespace csweep::worker
