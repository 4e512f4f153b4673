#include "worker/worker_loop.h"

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <deque>
#include <thread>

#include "common/error.h"
#include "common/log.h"
#include "orchestrator/signals.h"
#include "store/fragment_writer.h"

namespace csweep::worker {

using orchestrator::Message;
using orchestrator::MessageType;

ShardPipeline::ShardPipeline(const orchestrator::SweepSetup& setup,
                             const std::filesystem::path& store_dir, const WorkerContext& context,
                             const store::Slice& slice)
    : setup_(setup) {
  executor_ = make_shard_executor(setup.spec, setup.plan, context);
  writer_ = std::make_unique<store::FragmentWriter>(
      store_dir, setup.layout, setup.spec_hash,
      store::WriterInfo{context.rank, "", slice, store::SlurmIds::from_env()});
  baselines_ = std::make_unique<store::BaselinesWriter>(store_dir, writer_->file().stem().string(),
                                                        setup.spec_hash, context.rank);
}

orchestrator::ShardOutcome ShardPipeline::run(uint32_t id) {
  if (id >= setup_.plan.shards.size())
    return {false, "shard id " + std::to_string(id) + " out of range"};
  const sharding::Shard& shard = setup_.plan.shards[id];
  std::vector<float> values;
  std::optional<ShardExecutor::Baselines> baselines;
  try {
    values = executor_->run(shard);
    if (!baselines_->has(shard.analysis, shard.prompt)) baselines = executor_->baselines(shard);
  } catch (const std::exception& e) {
    return {false, e.what()};
  }
  if (static_cast<int64_t>(values.size()) != shard.cells())
    return {false, "executor returned " + std::to_string(values.size()) + " values for " +
                       std::to_string(shard.cells()) + " cells"};
  // A store failure (disk full, ...) is not the shard's fault: let it end this worker.
  // Baselines first: a shard durable in the fragment always has its baselines on disk.
  if (baselines)
    baselines_->record(setup_.layout, shard.analysis, shard.prompt,
                       {baselines->clean, baselines->corrupted});
  writer_->write(orchestrator::shard_info(shard), values);
  return {};
}

void ShardPipeline::close() {
  if (writer_) writer_->close();
  if (baselines_) baselines_->close();
}

namespace {

class Heartbeat {
 public:
  Heartbeat(orchestrator::Comm& comm, double interval_s)
      : thread_([this, &comm, interval_s] {
          auto next = std::chrono::steady_clock::now();
          while (!stop_) {
            next += std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                std::chrono::duration<double>(interval_s));
            while (!stop_ && std::chrono::steady_clock::now() < next)
              std::this_thread::sleep_for(std::chrono::milliseconds(20));
            if (!stop_) comm.send(0, Message{MessageType::Heartbeat});
          }
        }) {}
  ~Heartbeat() { stop(); }
  void stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }

 private:
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace

int run_worker(orchestrator::Comm& comm, const WorkerOptions& options) {
  auto log = log::get("worker");
  orchestrator::install_drain_signal_handlers();
  Message hello{MessageType::Hello};
  hello.text = orchestrator::this_hostname() + " " + std::to_string(::getpid());
  comm.send(0, hello);
  Heartbeat heartbeat(comm, options.heartbeat_s);

  std::deque<uint32_t> queue;
  bool stop = false, started = false, signaled = false, aborted = false;
  int stop_code = 0;
  Message m;
  auto handle = [&](const Message& msg) {
    switch (msg.type) {
      case MessageType::Start:
        started = true;
        break;
      case MessageType::Abort:
        stop = aborted = true;
        stop_code = msg.code;
        break;
      case MessageType::Assign:
        queue.push_back(msg.shard);
        break;
      case MessageType::Stop:
        stop = true;
        stop_code = msg.code;
        break;
      default:
        log->warn("unexpected {} from rank {}", orchestrator::message_type_name(msg.type),
                  msg.source);
    }
  };
  auto pump = [&] {
    while (comm.poll(m)) handle(m);
  };
  auto notice_signal = [&] {
    if (orchestrator::drain_signal() && !signaled) {
      signaled = true;
      Message s{MessageType::Signaled};
      s.code = orchestrator::drain_signal();
      comm.send(0, s);
    }
  };

  while (!started && !stop) {
    if (comm.wait(m, 0.1)) handle(m);
    notice_signal();
  }

  std::unique_ptr<orchestrator::SweepSetup> setup;
  std::unique_ptr<ShardPipeline> pipeline;
  if (!stop) {
    try {
      setup = std::make_unique<orchestrator::SweepSetup>(orchestrator::load_sweep(options.job));
      const auto store_dir = options.store.empty() ? setup->spec.store : options.store;
      WorkerContext ctx;
      ctx.rank = comm.rank();
      ctx.world_size = comm.size();
      ctx.worker_index = comm.rank() - 1;
      ctx.group = {comm.rank()};
      ctx.executor = options.executor;
      pipeline = std::make_unique<ShardPipeline>(*setup, store_dir, ctx, options.slice);
      comm.send(0, Message{MessageType::Ready});
    } catch (const std::exception& e) {
      Message f{MessageType::Failed};
      f.text = e.what();
      comm.send(0, f);
      log->error("rank {}: cannot start: {}", comm.rank(), e.what());
    }
  }

  while (!stop) {
    pump();
    notice_signal();
    if (stop) break;
    if (!signaled && pipeline && !queue.empty()) {
      const uint32_t id = queue.front();
      queue.pop_front();
      const auto t0 = std::chrono::steady_clock::now();
      orchestrator::ShardOutcome out = pipeline->run(id);
      Message r{out.ok ? MessageType::Done : MessageType::Failed};
      r.shard = id;
      r.text = out.error;
      r.cells = setup->plan.shards[id].cells();
      r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      comm.send(0, r);
      continue;
    }
    if (comm.wait(m, 0.1, signaled ? nullptr : orchestrator::drain_signal_flag())) handle(m);
  }
  if (pipeline) pipeline->close();
  heartbeat.stop();
  if (!aborted) comm.send(0, Message{MessageType::Bye});  // after ABORT the coordinator is gone
  return stop_code;
}

}  // namespace csweep::worker
