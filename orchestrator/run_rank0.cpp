#include "orchestrator/run_rank0.h"

#include <unistd.h>

#include <algorithm>
#include <iostream>

#include "common/error.h"
#include "common/host_memory.h"
#include "common/log.h"
#include "common/utc_time.h"
#include "orchestrator/stages.h"
#include "sharding/memory_fit.h"
#include "sharding/plan.h"
#include "store/provenance.h"
#include "store/reader.h"
#include "store/store.h"

namespace csweep::orchestrator {

namespace {

// provenance.json: software + model identity once, one entry per run. A model whose files
// changed under an existing store would mix results: refused like a spec change.
// Under the provenance lock: slices of a job array start and end at the same time.
void start_provenance(const store::Store& store, const SweepSetup& setup,
                      const nlohmann::json& run) {
  const nlohmann::json& model_files = setup.model_files;
  store.update_provenance([&](nlohmann::json& p) {
    const bool recorded = p.contains("model") && p["model"].contains("files");
    if (recorded && !store::same_hash_kinds(p["model"]["files"], model_files)) {
      log::get("coordinator")
          ->warn(
              "{}: model files were hashed with another hash kind by an older csweep; not compared",
              (store.dir() / "provenance.json").string());
    } else if (recorded && p["model"]["files"] != model_files) {
      throw error_at(
          (store.dir() / "provenance.json").string(), "model.files",
          "the model files in " + setup.spec.model.path.string() +
              " differ from those this store was started with; use --force-new to start over");
    }
    p["format_version"] = store::kStoreFormatVersion;
    p["spec_hash"] = setup.spec_hash;
    p["job_name"] = setup.spec.name;
    // Absolute, and relative to the store: reduce and validate find the job file (and through
    // it the model) from any working directory, and after the project has moved.
    const auto job_file = std::filesystem::absolute(setup.spec.file).lexically_normal();
    p["job_file"] = job_file.string();
    p["job_file_from_store"] =
        job_file.lexically_relative(std::filesystem::absolute(store.dir()).lexically_normal())
            .string();
    p["seed"] = setup.spec.seed;
    p["model"] = {{"path", setup.spec.model.path.string()},
                  {"dtype", setup.spec.model.dtype},
                  {"files", model_files}};
    p["build"] = store::build_info();
    if (!p.contains("runs")) p["runs"] = nlohmann::json::array();
    p["runs"].push_back(run);
  });
}

// Closes the run's provenance entry (ours: slices append theirs concurrently).
void end_provenance(const store::Store& store, const nlohmann::json& run,
                    const CoordinatorResult& result) {
  store.update_provenance([&](nlohmann::json& p) {
    if (!p.contains("runs")) return;
    for (auto it = p["runs"].rbegin(); it != p["runs"].rend(); ++it) {
      if ((*it).value("coordinator_pid", -1) != run["coordinator_pid"] ||
          (*it)["started"] != run["started"])
        continue;
      (*it)["ended"] = utc_now();
      (*it)["exit_code"] = result.exit_code;
      (*it)["shards_done_this_run"] = result.shards_done_this_run;
      (*it)["shards_failed"] = result.shards_failed;
      break;
    }
  });
}

// The shards this run is responsible for (all, or its slice's, of its level's analyses).
std::vector<ScheduledShard> shards_in_scope(const SweepSetup& setup, const RunOptions& opt) {
  const std::vector<int> levels = stage_levels(setup.spec);
  std::vector<ScheduledShard> shards;
  for (const auto& s : setup.plan.shards)
    if (opt.slice.contains(s.id) && (opt.level < 0 || levels.at(s.analysis) == opt.level))
      shards.push_back({s.id, s.prompt, s.flops, s.cells()});
  return shards;
}

// --level K > 0 needs level K-1 complete: refused before the store is opened or changed.
void check_level(const SweepSetup& setup, const RunOptions& opt, const std::filesystem::path& dir) {
  if (opt.level < 0) return;
  const std::vector<int> levels = stage_levels(setup.spec);
  const int top = levels.empty() ? 0 : *std::max_element(levels.begin(), levels.end());
  if (opt.level > top)
    throw error_at("--level " + std::to_string(opt.level), "",
                   setup.spec.file.string() + " has stage levels 0.." + std::to_string(top));
  if (opt.level == 0) return;
  const std::vector<uint8_t> done =
      opt.force_new ? std::vector<uint8_t>(setup.plan.shards.size(), 0)
                    : store::scan_done_shards(dir, setup.layout, setup.spec_hash).done;
  require_level_inputs(setup, done, opt.level);
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

// Everything rank 0 holds once the store is open.
struct OpenRun {
  SweepSetup setup;
  std::unique_ptr<store::Store> store;
  nlohmann::json run;  // this run's provenance entry
  std::vector<uint8_t> already_done;
  CoordinatorOptions coordinator;
  std::unique_ptr<StageTracker> stages;  // null when the job has no stages
};

OpenRun open_run(Comm& comm, const RunOptions& opt, const std::vector<std::string>& hosts,
                 const LocalExecution& local) {
  OpenRun o;
  o.setup = load_sweep(opt.job);
  // The ranks that share rank 0's host share its memory.
  const std::string host = hosts.empty() ? std::string() : hosts.front();
  const auto on_host = std::count(hosts.begin(), hosts.end(), host);
  const sharding::MemoryLimit limit = sharding::memory_limit(
      opt.mem_per_rank, o.setup.spec.model.device, static_cast<int>(on_host), host_memory_bytes());
  // Worker groups of `tp` ranks (protocol.h): the world must hold a coordinator plus whole
  // groups; one process cannot split a model. `auto` is decided here, once, and START tells
  // the workers.
  const int tp = sharding::choose_tensor_parallel(o.setup.spec, o.setup.config, o.setup.plan,
                                                  comm.size(), limit);
  if (tp > 1) {
    const std::string n = std::to_string(tp);
    if (comm.size() == 1)
      throw error_at(o.setup.spec.file.string(), "model.tensor_parallel",
                     n + ": one process cannot hold a model split " + n +
                         " ways; run under mpirun -np " + std::to_string(1 + tp) +
                         " (rank 0 coordinates, every " + n + " further ranks share one model)");
    try {
      sharding::layout_ranks(o.setup.plan, comm.size(), tp);
    } catch (const Error& e) {
      throw error_at(o.setup.spec.file.string(), "model.tensor_parallel", n + ": " + e.what());
    }
  }
  if (opt.executor.empty()) {
    if (local.check_model) local.check_model(o.setup);
    sharding::check_memory_fits(o.setup.spec, o.setup.plan, tp, limit);
  }
  if (comm.size() == 1 && local.check) local.check(o.setup);
  // The command line overrides the job file's run: section.
  o.coordinator = opt.coordinator;
  o.coordinator.tensor_parallel = tp;
  o.coordinator.on_error =
      parse_on_error(opt.on_error.empty() ? o.setup.spec.run.on_error : opt.on_error);
  o.coordinator.max_retries =
      opt.max_retries >= 0 ? opt.max_retries : static_cast<int>(o.setup.spec.run.max_retries);
  const auto dir = opt.store.empty() ? o.setup.spec.store : opt.store;
  check_level(o.setup, opt, dir);
  o.store = std::make_unique<store::Store>(store::Store::open_for_run(
      dir, {o.setup.spec_text, o.setup.spec_hash, o.setup.layout}, opt.force_new, opt.slice));
  store::DoneShards done =
      store::scan_done_shards(o.store->dir(), o.setup.layout, o.setup.spec_hash);
  store::quarantine_fragments(*o.store, own_fragments(done.unreadable, opt.slice));
  o.already_done = done.done;
  o.run = {{"started", utc_now()},
           {"hosts", hosts},
           {"ranks", comm.size()},
           {"tensor_parallel", tp},
           {"seed", o.setup.spec.seed},
           {"coordinator_pid", ::getpid()},
           {"executor", opt.executor.empty() ? "analyses" : opt.executor},
           {"shards_done_at_start", done.count},
           {"damaged_fragments", done.unreadable.size()}};
  if (opt.slice.active()) o.run["slice"] = opt.slice.text();
  if (opt.level >= 0) o.run["level"] = opt.level;
  const store::SlurmIds slurm = store::SlurmIds::from_env();
  if (!slurm.empty()) o.run["slurm"] = slurm.to_json();
  start_provenance(*o.store, o.setup, o.run);
  return o;
}

// status.json's run facts: the provenance entry's identity, where and on what it runs.
nlohmann::json run_info(const OpenRun& o) {
  nlohmann::json info{{"store", o.store->dir().string()}};
  for (const char* key : {"ranks", "tensor_parallel", "hosts", "coordinator_pid", "started",
                          "slice", "level", "slurm"})
    if (o.run.contains(key)) info[key] = o.run[key];
  return info;
}

// "slice 1/4", "level 2", "level 2 slice 1/4".
std::string part_name(const RunOptions& opt) {
  std::string name = opt.level >= 0 ? "level " + std::to_string(opt.level) : "";
  if (opt.slice.active()) name += (name.empty() ? "slice " : " slice ") + opt.slice.text();
  return name;
}

void print_summary(const RunOptions& opt, const OpenRun& o, const CoordinatorResult& result) {
  nlohmann::json summary{{"store", o.store->dir().string()},
                         {"exit_code", result.exit_code},
                         {"shards_total", result.shards_total},
                         {"shards_done", result.shards_done},
                         {"shards_failed", result.shards_failed},
                         {"shards_done_this_run", result.shards_done_this_run},
                         {"message", result.message}};
  int64_t store_done = result.shards_done;
  const size_t store_total = o.setup.layout.shards.size();
  if (opt.level >= 0) summary["level"] = opt.level;
  const bool part = opt.slice.active() || opt.level >= 0;
  if (part) {  // the slice's or level's figures above; the whole store's here
    store_done = store::scan_done_shards(o.store->dir(), o.setup.layout, o.setup.spec_hash).count;
    if (opt.slice.active()) summary["slice"] = opt.slice.text();
    summary["store_shards_total"] = store_total;
    summary["store_shards_done"] = store_done;
  }
  if (opt.json)
    std::cout << summary.dump() << std::endl;
  else if (result.exit_code == 0 && part)
    std::cout << "csweep run: " << part_name(opt) << " complete: " << result.shards_done << "/"
              << result.shards_total << " shards (" << result.shards_done_this_run
              << " this run); store " << store_done << "/" << store_total << " shards in "
              << o.store->dir().string() << std::endl;
  else if (result.exit_code == 0)
    std::cout << "csweep run: complete: " << result.shards_done << "/" << result.shards_total
              << " shards (" << result.shards_done_this_run << " this run) in "
              << o.store->dir().string() << std::endl;
  if (result.exit_code != 0 && !result.message.empty())
    std::cerr << "csweep: " << result.message << std::endl;
}

}  // namespace

int run_rank0(Comm& comm, const RunOptions& opt, const std::vector<std::string>& hosts,
              const LocalExecution& local) {
  OpenRun o;
  try {
    o = open_run(comm, opt, hosts, local);
    // Before any worker writes: it may read the store (stages.h). It keeps a reference to o.setup.
    auto stages = std::make_unique<StageTracker>(o.setup, o.store->dir(), o.already_done,
                                                 opt.slice.active(), opt.level);
    if (stages->any()) o.stages = std::move(stages);
  } catch (const Error&) {
    Message a{MessageType::Abort};
    a.code = 2;
    for (int r = 1; r < comm.size(); ++r) comm.send(r, a);
    comm.finalize();
    throw;
  }
  std::unique_ptr<LocalShardRunner> runner;
  if (comm.size() == 1) runner = local.make(o.setup, o.store->dir());
  CoordinatorResult result =
      coordinate(comm, *o.store, shards_in_scope(o.setup, opt), o.already_done, o.coordinator,
                 runner.get(), run_info(o), o.stages.get());
  if (runner) runner->close();
  end_provenance(*o.store, o.run, result);
  print_summary(opt, o, result);
  o.store.reset();  // releases the lock before the process ends
  if (result.lost_workers)
    comm.abort(result.exit_code);  // MPI_Finalize would wait for the lost ranks
  comm.finalize();
  return result.exit_code;
}

}  // namespace csweep::orchestrator
