#include "worker/run_sweep.h"

#include <c10/core/Device.h>

#include "collectives/mpi_collective.h"
#include "collectives/nccl_collective.h"
#include "common/log.h"
#include "model/checkpoint_shapes.h"
#include "orchestrator/mpi_comm.h"
#include "orchestrator/signals.h"
#include "worker/analysis_executor.h"
#include "worker/rank_device.h"
#include "worker/worker_loop.h"

namespace csweep::worker {

namespace {

// A tensor-parallel group's communicator: MPI for CPU tensors; NCCL for CUDA tensors, its
// unique id handed round over the group's MPI communicator.
std::unique_ptr<model::Collective> make_group(const std::vector<int>& ranks,
                                              const std::string& device) {
  auto mpi = collectives::MpiCollective::of_ranks(MPI_COMM_WORLD, ranks);
  if (device.rfind("cuda", 0) != 0) return mpi;
  return collectives::NcclCollective::create(*mpi, c10::Device(device).index());
}

// A one-process run computes on rank 0 itself, through the same pipeline a worker uses.
orchestrator::LocalExecution local_execution(const orchestrator::RunOptions& opt) {
  orchestrator::LocalExecution local;
  local.check = [&opt](const orchestrator::SweepSetup& setup) {
    if (opt.executor.empty()) check_job_device(setup.spec);
  };
  local.check_model = [](const orchestrator::SweepSetup& setup) {
    model::check_checkpoint_shapes(setup.spec.model.path, setup.config);
  };
  local.make = [&opt](const orchestrator::SweepSetup& setup,
                      const std::filesystem::path& store_dir) {
    WorkerContext ctx;
    ctx.executor = opt.executor;
    ctx.group = {0};
    return std::unique_ptr<orchestrator::LocalShardRunner>(
        new ShardPipeline(setup, store_dir, ctx, opt.slice));
  };
  return local;
}

}  // namespace

int run_rank(orchestrator::Comm& comm, const orchestrator::RunOptions& opt) {
  orchestrator::install_drain_signal_handlers();
  const std::vector<std::string> hosts = comm.all_hostnames();
  if (comm.rank() == 0) return orchestrator::run_rank0(comm, opt, hosts, local_execution(opt));
  WorkerOptions w{opt.job, opt.store, opt.executor, opt.heartbeat_s, opt.slice};
  w.local_index = local_worker_index(hosts, comm.rank());
  w.make_group = make_group;
  int code = 2;
  try {
    code = run_worker(comm, w);
  } catch (const std::exception& e) {
    log::get("worker")->error("rank {}: {}", comm.rank(), e.what());
    comm.abort(3);
  }
  comm.finalize();
  return code;
}

int run_sweep(const orchestrator::RunOptions& opt) {
  return run_rank(orchestrator::MpiComm::world(), opt);
}

}  // namespace csweep::worker
