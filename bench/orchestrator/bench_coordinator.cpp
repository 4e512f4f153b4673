// Coordinator throughput: rank 0 runs the real coordinator (scheduler, journal, status.json)
// over N shards; every other rank is a no-op worker that answers each ASSIGN with DONE at once.
// The shards/s figure is the ceiling the coordinator puts on a sweep however many workers it has.
//   mpirun -np 8 --oversubscribe bench_coordinator [N_SHARDS] [STORE_DIR]
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>

#include "orchestrator/coordinator.h"
#include "orchestrator/mpi_comm.h"
#include "store/store.h"

using namespace csweep;
using orchestrator::Message;
using orchestrator::MessageType;

int main(int argc, char** argv) {
  const int64_t n = argc > 1 ? std::stoll(argv[1]) : 100000;
  const std::filesystem::path dir = argc > 2 ? argv[2] : "/tmp/csweep-bench-coordinator";
  auto& comm = orchestrator::MpiComm::world();
  if (comm.rank() != 0) {
    comm.send(0, Message{MessageType::Hello});
    comm.send(0, Message{MessageType::Ready});
    Message m;
    while (true) {
      if (!comm.wait(m, 1.0)) continue;
      if (m.type == MessageType::Assign) {
        Message d{MessageType::Done};
        d.shard = m.shard;
        d.cells = 1;
        comm.send(0, d);
      } else if (m.type == MessageType::Stop || m.type == MessageType::Abort) {
        break;
      }
    }
    comm.send(0, Message{MessageType::Bye});
    comm.finalize();
    return 0;
  }
  store::Layout layout;
  layout.analyses = {{"a", "synthetic", {{"cell", n, {}}}}};
  layout.prompt_ids = {"p"};
  std::vector<orchestrator::ScheduledShard> shards;
  for (int64_t i = 0; i < n; ++i) {
    layout.shards.push_back({static_cast<uint32_t>(i), 0, 0, i, i + 1});
    shards.push_back({static_cast<uint32_t>(i), static_cast<uint32_t>(i % 64), double(n - i), 1});
  }
  std::filesystem::remove_all(dir);
  auto store = store::Store::open_for_run(dir, {"bench", "bench", layout}, false);
  orchestrator::CoordinatorOptions opt;
  opt.progress_interval_s = 0;
  const auto t0 = std::chrono::steady_clock::now();
  auto r = orchestrator::coordinate(comm, store, std::move(shards), {}, opt, nullptr, {});
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("coordinator: %lld shards, %d no-op workers, %.3f s, %.0f shards/s (exit %d)\n",
              static_cast<long long>(r.shards_done), comm.size() - 1, s, r.shards_done / s,
              r.exit_code);
  comm.finalize();
  return r.exit_code;
}
