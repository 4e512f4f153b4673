#pragma once
// A worker rank's side of the protocol (orchestrator/protocol.h): HELLO, wait for START,
// build the executor and the fragment, READY, then run ASSIGNed shards until STOP.
// Returns the exit code the coordinator chose.
#include <filesystem>
#include <string>

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
  store::Slice slice;  // recorded in the fragment's name and attributes
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

 private:
  const orchestrator::SweepSetup& setup_;
  std::unique_ptr<ShardExecutor> executor_;
  std::unique_ptr<store::FragmentWriter> writer_;
  std::unique_ptr<store::BaselinesWriter> baselines_;
};

}  // namespace csweep::worker
