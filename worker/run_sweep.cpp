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
#include "worker/analysis_executor.h"
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
// Under the provenance lock: slices of a job array start and end at the same time.
void start_provenance(const store::Store& store, const SweepSetup& setup, const nlohmann::json& run) {
  nlohmann::json model_files = store::hash_model_files(setup.spec.model.path);
  store.update_provenance([&](nlohmann::json& p) {
    const bool recorded = p.contains("model") && p["model"].contains("files");
    if (recorded && !store::same_hash_kinds(p["model"]["files"], model_files)) {
      log::get("worker")->warn("{}: model files were hashed with another hash kind by an older csweep; not compared",
                            (store.dir() / "provenance.json").string());
    } else if (recorded && p["model"]["files"] != model_files) {
      throw error_at((store.dir() / "provenance.json").string(), "model.files",
                     "the model files in " + setup.spec.model.path.string() +
                         " differ from those this store was started with; use --force-new to start over");
    }
    p["format_version"] = store::kStoreFormatVersion;
    p["spec_hash"] = setup.spec_hash;
    p["job_name"] = setup.spec.name;
    p["job_file"] = setup.spec.file.string();
    p["seed"] = setup.spec.seed;
    p["model"] = {{"path", setup.spec.model.path.string()}, {"dtype", setup.spec.model.dtype}, {"files", model_files}};
    p["build"] = store::build_info();
    if (!p.contains("runs")) p["runs"] = nlohmann::json::array();
    p["runs"].push_back(run);
  });
}

// The shards this run is responsible for (all, or its slice's).
std::vector<orchestrator::ScheduledShard> shards_in_scope(const SweepSetup& setup, const store::Slice& slice) {
  std::vector<orchestrator::ScheduledShard> shards;
  for (const auto& s : setup.plan.shards)
    if (slice.contains(s.id)) shards.push_back({s.id, s.prompt, s.flops, s.cells()});
  return shards;
}

// A slice's coordinator may only quarantine its own slice's fragments: the others' may be
// being created by a live array task right now.
std::vector<std::filesystem::path> own_fragments(const std::vector<std::filesystem::path>& files,
                                                 const store::Slice& slice) {
  if (!slice.active()) return files;
  std::vector<std::filesystem::path> out;
  for (const auto& f : files) {
    const store::Slice of = store::slice_of_name(f.filename().string());
    if (of.index == slice.index && of.count == slice.count) out.push_back(f);
  }
  return out;
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
  nlohmann::json run;
  std::vector<uint8_t> already_done;
  orchestrator::CoordinatorOptions copt = opt.coordinator;
  const store::SlurmIds slurm = store::SlurmIds::from_env();
  try {
    setup = load_sweep(opt.job);
    // One process computes here: a device it cannot use is refused before the store exists.
    if (comm.size() == 1 && opt.executor.empty()) check_job_device(setup.spec);
    // The command line overrides the job file's run: section.
    copt.on_error = orchestrator::parse_on_error(opt.on_error.empty() ? setup.spec.run.on_error : opt.on_error);
    copt.max_retries = opt.max_retries >= 0 ? opt.max_retries : static_cast<int>(setup.spec.run.max_retries);
    const auto dir = opt.store.empty() ? setup.spec.store : opt.store;
    store = std::make_unique<store::Store>(store::Store::open_for_run(
        dir, {setup.spec_text, setup.spec_hash, setup.layout}, opt.force_new, opt.slice));
    store::DoneShards done = store::scan_done_shards(store->dir(), setup.layout, setup.spec_hash);
    store::quarantine_fragments(*store, own_fragments(done.unreadable, opt.slice));
    already_done = done.done;
    run = {{"started", utc_now()}, {"hosts", hosts}, {"ranks", comm.size()}, {"seed", setup.spec.seed},
           {"coordinator_pid", ::getpid()}, {"executor", opt.executor.empty() ? "analyses" : opt.executor},
           {"shards_done_at_start", done.count}, {"damaged_fragments", done.unreadable.size()}};
    if (opt.slice.active()) run["slice"] = opt.slice.text();
    if (!slurm.empty()) run["slurm"] = slurm.to_json();
    start_provenance(*store, setup, run);
  } catch (const Error&) {
    abort_workers(2);
    comm.finalize();
    throw;
  }

  std::vector<orchestrator::ScheduledShard> shards = shards_in_scope(setup, opt.slice);
  std::unique_ptr<ShardPipeline> local;
  if (comm.size() == 1) {
    WorkerContext ctx;
    ctx.executor = opt.executor;
    ctx.group = {0};
    local = std::make_unique<ShardPipeline>(setup, store->dir(), ctx, opt.slice);
  }
  nlohmann::json run_info{{"store", store->dir().string()}, {"ranks", comm.size()}, {"hosts", hosts},
                          {"coordinator_pid", ::getpid()}, {"started", run["started"]}};
  if (opt.slice.active()) run_info["slice"] = opt.slice.text();
  if (!slurm.empty()) run_info["slurm"] = slurm.to_json();
  orchestrator::CoordinatorResult result =
      orchestrator::coordinate(comm, *store, std::move(shards), already_done, copt, local.get(), run_info);
  if (local) local->close();

  // Close the run's provenance entry (ours: slices append theirs concurrently).
  const auto started = run["started"];
  const auto pid = ::getpid();
  store->update_provenance([&](nlohmann::json& p) {
    if (!p.contains("runs")) return;
    for (auto it = p["runs"].rbegin(); it != p["runs"].rend(); ++it) {
      if ((*it).value("coordinator_pid", -1) != pid || (*it)["started"] != started) continue;
      (*it)["ended"] = utc_now();
      (*it)["exit_code"] = result.exit_code;
      (*it)["shards_done_this_run"] = result.shards_done_this_run;
      (*it)["shards_failed"] = result.shards_failed;
      break;
    }
  });
  nlohmann::json summary{{"store", store->dir().string()},     {"exit_code", result.exit_code},
                         {"shards_total", result.shards_total}, {"shards_done", result.shards_done},
                         {"shards_failed", result.shards_failed},
                         {"shards_done_this_run", result.shards_done_this_run}, {"message", result.message}};
  int64_t store_done = result.shards_done;
  if (opt.slice.active()) {  // the slice's figures above; the whole store's here
    store_done = store::scan_done_shards(store->dir(), setup.layout, setup.spec_hash).count;
    summary["slice"] = opt.slice.text();
    summary["store_shards_total"] = setup.layout.shards.size();
    summary["store_shards_done"] = store_done;
  }
  if (opt.json) std::cout << summary.dump() << std::endl;
  else if (result.exit_code == 0 && opt.slice.active())
    std::cout << "csweep run: slice " << opt.slice.text() << " complete: " << result.shards_done << "/"
              << result.shards_total << " shards (" << result.shards_done_this_run << " this run); store "
              << store_done << "/" << setup.layout.shards.size() << " shards in " << store->dir().string() << std::endl;
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
  WorkerOptions w{opt.job, opt.store, opt.executor, opt.heartbeat_s, opt.slice};
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
