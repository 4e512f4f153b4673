#include "worker/run_sweep.h"

#include <unistd.h>

#include <chrono>
#include <ctime>
#include <iostream>

#include "common/error.h"
#include "common/log.h"
#include "orchestrator/comm.h"
#include "orchestrator/signals.h"
#include "store/provenance.h"
#include "store/reader.h"
#include "store/store.h"
#include "worker/sweep_setup.h"
#include "worker/worker_loop.h"

namespace csweep::worker {

namespace {

std::string utc_now() {
  std::time_t t = std::time(nullptr);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&t));
  return buf;
}

// provenance.json: software + model identity once, one entry per run. A model whose files
// changed under an existing store would mix results: refused like a spec change.
nlohmann::json start_provenance(const store::Store& store, const SweepSetup& setup, const nlohmann::json& run) {
  nlohmann::json p = store.provenance();
  nlohmann::json model_files = store::hash_model_files(setup.spec.model.path);
  if (p.contains("model") && p["model"].contains("files") && p["model"]["files"] != model_files)
    throw error_at((store.dir() / "provenance.json").string(), "model.files",
                   "the model files in " + setup.spec.model.path.string() +
                       " differ from those this store was started with; use --force-new to start over");
  p["format_version"] = store::kStoreFormatVersion;
  p["spec_hash"] = setup.spec_hash;
  p["job_name"] = setup.spec.name;
  p["job_file"] = setup.spec.file.string();
  p["seed"] = setup.spec.seed;
  p["model"] = {{"path", setup.spec.model.path.string()}, {"dtype", setup.spec.model.dtype}, {"files", model_files}};
  p["build"] = store::build_info();
  if (!p.contains("runs")) p["runs"] = nlohmann::json::array();
  p["runs"].push_back(run);
  store.write_provenance(p);
  return p;
}

int run_coordinator(orchestrator::Comm& comm, const RunOptions& opt, const std::vector<std::string>& hosts) {
  auto abort_workers = [&](int code) {
    for (int r = 1; r < comm.size(); ++r) {
      orchestrator::Message a{orchestrator::MessageType::Abort};
      a.code = code;
      comm.send(r, a);
    }
  };
  SweepSetup setup;
  std::unique_ptr<store::Store> store;
  nlohmann::json provenance, run;
  std::vector<uint8_t> already_done;
  try {
    setup = load_sweep(opt.job);
    const auto dir = opt.store.empty() ? setup.spec.store : opt.store;
    store = std::make_unique<store::Store>(
        store::Store::open_for_run(dir, {setup.spec_text, setup.spec_hash, setup.layout}, opt.force_new));
    store::DoneShards done = store::scan_done_shards(store->dir(), setup.layout, setup.spec_hash);
    store::quarantine_fragments(*store, done.unreadable);
    already_done = done.done;
    run = {{"started", utc_now()}, {"hosts", hosts}, {"ranks", comm.size()}, {"seed", setup.spec.seed},
           {"coordinator_pid", ::getpid()}, {"executor", opt.executor.empty() ? "analyses" : opt.executor},
           {"shards_done_at_start", done.count}, {"damaged_fragments", done.unreadable.size()}};
    provenance = start_provenance(*store, setup, run);
  } catch (const Error&) {
    abort_workers(2);
    comm.finalize();
    throw;
  }

  std::vector<orchestrator::ScheduledShard> shards;
  for (const auto& s : setup.plan.shards) shards.push_back({s.id, s.prompt, s.flops, s.cells()});
  std::unique_ptr<ShardPipeline> local;
  if (comm.size() == 1) {
    WorkerContext ctx;
    ctx.executor = opt.executor;
    ctx.group = {0};
    local = std::make_unique<ShardPipeline>(setup, store->dir(), ctx);
  }
  nlohmann::json run_info{{"store", store->dir().string()}, {"ranks", comm.size()}, {"hosts", hosts},
                          {"coordinator_pid", ::getpid()}, {"started", run["started"]}};
  orchestrator::CoordinatorResult result =
      orchestrator::coordinate(comm, *store, std::move(shards), already_done, opt.coordinator, local.get(), run_info);
  if (local) local->close();

  // Close the run's provenance entry.
  nlohmann::json p = store->provenance();
  if (p.contains("runs") && !p["runs"].empty()) {
    auto& last = p["runs"].back();
    last["ended"] = utc_now();
    last["exit_code"] = result.exit_code;
    last["shards_done_this_run"] = result.shards_done_this_run;
    last["shards_failed"] = result.shards_failed;
    store->write_provenance(p);
  }
  const nlohmann::json summary{{"store", store->dir().string()},     {"exit_code", result.exit_code},
                               {"shards_total", result.shards_total}, {"shards_done", result.shards_done},
                               {"shards_failed", result.shards_failed},
                               {"shards_done_this_run", result.shards_done_this_run}, {"message", result.message}};
  if (opt.json) std::cout << summary.dump() << std::endl;
  else if (result.exit_code == 0)
    std::cout << "csweep run: complete: " << result.shards_done << "/" << result.shards_total << " shards ("
              << result.shards_done_this_run << " this run) in " << store->dir().string() << std::endl;
  if (result.exit_code != 0 && !result.message.empty()) std::cerr << "csweep: " << result.message << std::endl;
  store.reset();  // releases the lock before the process ends
  if (result.lost_workers) comm.abort(result.exit_code);  // MPI_Finalize would wait for the lost ranks
  comm.finalize();
  return result.exit_code;
}

}  // namespace

int run_sweep(const RunOptions& opt) {
  orchestrator::install_drain_signal_handlers();
  orchestrator::Comm& comm = orchestrator::Comm::world();
  const std::vector<std::string> hosts = comm.all_hostnames();
  if (comm.rank() == 0) return run_coordinator(comm, opt, hosts);
  WorkerOptions w{opt.job, opt.store, opt.executor, opt.heartbeat_s};
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

}  // namespace csweep::worker
