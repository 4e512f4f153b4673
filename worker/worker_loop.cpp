#include "worker/worker_loop.h"

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <deque>
#include <thread>

#include "common/error.h"
#include "common/log.h"
#include "model/collective.h"
#include "model/cuda_backend.h"
#include "orchestrator/signals.h"
#include "orchestrator/stages.h"
#include "sharding/plan.h"
#include "store/fragment_writer.h"
#include "worker/rank_device.h"

namespace csweep::worker {

using orchestrator::Message;
using orchestrator::MessageType;

namespace {

// One shard on one rank's executor: its values and, when asked, its baselines. Every rank of
// a tensor-parallel group calls this for the same shard at the same time.
ShardPipeline::Computed compute_shard(ShardExecutor& executor, const sharding::Plan& plan,
                                      uint32_t id, bool with_baselines) {
  ShardPipeline::Computed c;
  c.shard = id;
  if (id >= plan.shards.size()) {
    c.outcome = {false, "shard id " + std::to_string(id) + " out of range"};
    return c;
  }
  const sharding::Shard& shard = plan.shards[id];
  try {
    c.values = executor.run(shard);
    if (with_baselines) c.baselines = executor.baselines(shard);
  } catch (const std::exception& e) {
    c.outcome = {false, e.what()};
    return c;
  }
  if (static_cast<int64_t>(c.values.size()) != shard.cells())
    c.outcome = {false, "executor returned " + std::to_string(c.values.size()) + " values for " +
                            std::to_string(shard.cells()) + " cells"};
  return c;
}

}  // namespace

ShardPipeline::ShardPipeline(const orchestrator::SweepSetup& setup,
                             const std::filesystem::path& store_dir, const WorkerContext& context,
                             const store::Slice& slice)
    : setup_(setup) {
  WorkerContext ctx = context;
  ctx.store_dir = store_dir;
  executor_ = make_shard_executor(setup.spec, setup.plan, ctx);
  writer_ = std::make_unique<store::FragmentWriter>(
      store_dir, setup.layout, setup.spec_hash,
      store::WriterInfo{context.rank, "", slice, store::SlurmIds::from_env()});
  baselines_ = std::make_unique<store::BaselinesWriter>(store_dir, writer_->file().stem().string(),
                                                        setup.spec_hash, context.rank);
}

bool ShardPipeline::wants_baselines(uint32_t id) const {
  if (id >= setup_.plan.shards.size()) return false;
  const sharding::Shard& shard = setup_.plan.shards[id];
  return !baselines_->has(shard.analysis, shard.prompt);
}

ShardPipeline::Computed ShardPipeline::compute(uint32_t id) {
  return compute_shard(*executor_, setup_.plan, id, wants_baselines(id));
}

// A store failure (disk full, ...) is not the shard's fault: it throws and ends this worker.
// Baselines first: a shard durable in the fragment always has its baselines on disk.
void ShardPipeline::commit(const Computed& c) {
  if (!c.outcome.ok) return;
  const sharding::Shard& shard = setup_.plan.shards[c.shard];
  if (c.baselines)
    baselines_->record(setup_.layout, shard.analysis, shard.prompt,
                       {c.baselines->clean, c.baselines->corrupted});
  writer_->write(orchestrator::shard_info(shard), c.values);
}

orchestrator::ShardOutcome ShardPipeline::run(uint32_t id) {
  Computed c = compute(id);
  commit(c);
  if (c.outcome.ok) c.outcome.values = std::move(c.values);
  return c.outcome;
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

// The rank's tensor-parallel group (world ranks, leader first): {rank} without TP.
std::vector<int> group_of_rank(const orchestrator::SweepSetup& setup, int rank, int world_size,
                               int tp) {
  if (tp <= 1) return {rank};
  const sharding::RankLayout layout = sharding::layout_ranks(setup.plan, world_size, tp);
  return layout.groups.at(static_cast<size_t>(layout.group_of(rank)));
}

// One worker rank: a group's leader (every rank without TP) or one of its members.
class WorkerRank {
 public:
  WorkerRank(orchestrator::Comm& comm, const WorkerOptions& options)
      : comm_(comm), options_(options), log_(log::get("worker")) {}

  int run() {
    Message hello{MessageType::Hello};
    hello.text = orchestrator::this_hostname() + " " + std::to_string(::getpid());
    comm_.send(0, hello);
    Heartbeat heartbeat(comm_, options_.heartbeat_s);
    while (!started_ && !stop_) {
      Message m;
      if (comm_.wait(m, 0.1)) handle(m);
      notice_signal();
    }
    if (!stop_) start();
    if (leads()) {
      lead();
    } else {
      follow();
    }
    if (pipeline_) pipeline_->close();
    pipeline_.reset();  // the models hold the group's communicator: they go first
    executor_.reset();
    group_.reset();
    heartbeat.stop();
    if (!aborted_) comm_.send(0, Message{MessageType::Bye});  // after ABORT the coordinator is gone
    return stop_code_;
  }

 private:
  bool leads() const { return group_ranks_.front() == comm_.rank(); }

  void handle(const Message& msg) {
    switch (msg.type) {
      case MessageType::Start:
        started_ = true;
        group_size_ = std::max(1, msg.code);
        break;
      case MessageType::Abort:
        stop_ = aborted_ = true;
        stop_code_ = msg.code;
        break;
      case MessageType::Assign:
        if (msg.source == 0)
          queue_.push_back(msg.shard);
        else
          relayed_.push_back(msg);
        break;
      case MessageType::Stop:
        stop_ = true;
        stop_code_ = msg.code;
        break;
      case MessageType::Done:
      case MessageType::Failed:
        if (msg.source != 0) {  // a member's part of the shard its leader runs
          member_replies_.push_back(msg);
          break;
        }
        [[fallthrough]];
      default:
        log_->warn("unexpected {} from rank {}", orchestrator::message_type_name(msg.type),
                   msg.source);
    }
  }

  void pump() {
    Message m;
    while (comm_.poll(m)) handle(m);
  }

  void notice_signal() {
    if (orchestrator::drain_signal() && !signaled_) {
      signaled_ = true;
      Message s{MessageType::Signaled};
      s.code = orchestrator::drain_signal();
      comm_.send(0, s);
    }
  }

  // Loads the sweep and the model (the rank's part of it), then READY; FAILED on any error.
  void start() {
    try {
      setup_ = std::make_unique<orchestrator::SweepSetup>(orchestrator::load_sweep(options_.job));
      group_ranks_ = group_of_rank(*setup_, comm_.rank(), comm_.size(), group_size_);
      WorkerContext ctx;
      ctx.rank = comm_.rank();
      ctx.world_size = comm_.size();
      ctx.worker_index = (comm_.rank() - 1) / static_cast<int>(group_ranks_.size());
      ctx.group = group_ranks_;
      ctx.executor = options_.executor;
      ctx.store_dir = options_.store.empty() ? setup_->spec.store : options_.store;
      const std::string& device = setup_->spec.model.device;
      ctx.device = rank_device(device, options_.local_index,
                               device.rfind("cuda", 0) == 0 ? model::cuda_device_count() : 0);
      if (group_ranks_.size() > 1) {
        if (!options_.make_group)
          throw Error("tensor_parallel " + std::to_string(group_ranks_.size()) +
                      ": this runner cannot make worker groups");
        group_ = options_.make_group(group_ranks_, ctx.device);
        ctx.tensor_parallel = group_.get();
      }
      if (leads()) {
        pipeline_ = std::make_unique<ShardPipeline>(*setup_, ctx.store_dir, ctx, options_.slice);
      } else {
        executor_ = make_shard_executor(setup_->spec, setup_->plan, ctx);
      }
      comm_.send(0, Message{MessageType::Ready});
    } catch (const std::exception& e) {
      Message f{MessageType::Failed};
      f.text = e.what();
      comm_.send(0, f);
      log_->error("rank {}: cannot start: {}", comm_.rank(), e.what());
    }
  }

  // The leader: runs ASSIGNed shards with its members until STOP, then relays the STOP.
  void lead() {
    while (!stop_) {
      pump();
      notice_signal();
      if (stop_) break;
      if (!signaled_ && pipeline_ && !queue_.empty()) {
        const uint32_t id = queue_.front();
        queue_.pop_front();
        run_shard(id);
        continue;
      }
      Message m;
      if (comm_.wait(m, 0.1, signaled_ ? nullptr : orchestrator::drain_signal_flag())) handle(m);
    }
    if (aborted_) return;  // ABORT reached every rank from the coordinator
    Message s{MessageType::Stop};
    s.code = stop_code_;
    for (size_t i = 1; i < group_ranks_.size(); ++i) comm_.send(group_ranks_[i], s);
  }

  void run_shard(uint32_t id) {
    const auto t0 = std::chrono::steady_clock::now();
    Message relay{MessageType::Assign};
    relay.shard = id;
    relay.code = pipeline_->wants_baselines(id) ? 1 : 0;
    for (size_t i = 1; i < group_ranks_.size(); ++i) comm_.send(group_ranks_[i], relay);
    ShardPipeline::Computed c = pipeline_->compute(id);
    await_members(id, c.outcome);
    pipeline_->commit(c);
    Message r{c.outcome.ok ? MessageType::Done : MessageType::Failed};
    r.shard = id;
    r.text = c.outcome.error;
    if (c.outcome.ok && orchestrator::feeds_stage(setup_->spec, setup_->plan.shards[id].analysis))
      r.text = orchestrator::pack_values(c.values);
    r.cells = setup_->plan.shards[id].cells();
    r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    comm_.send(0, r);
  }

  // Every member's DONE/FAILED for `id`; the coordinator's messages meanwhile are kept. A
  // member that never answers is the coordinator's to notice (its heartbeats stop, or the
  // shard timeout), which loses the group.
  void await_members(uint32_t id, orchestrator::ShardOutcome& outcome) {
    size_t answered = 0;
    while (answered + 1 < group_ranks_.size()) {
      for (const Message& m : member_replies_) {
        ++answered;
        if (m.shard != id)
          log_->warn("rank {} answered shard {} while shard {} runs", m.source, m.shard, id);
        else if (m.type == MessageType::Failed && outcome.ok)
          outcome = {false, "rank " + std::to_string(m.source) + ": " + m.text};
      }
      member_replies_.clear();
      if (answered + 1 >= group_ranks_.size()) break;
      Message m;
      if (comm_.wait(m, 0.1)) handle(m);
      notice_signal();
    }
  }

  // A member: runs each shard its leader relays until the leader's STOP (or ABORT).
  void follow() {
    while (!stop_ || !relayed_.empty()) {
      if (!relayed_.empty() && !aborted_) {
        const Message job = relayed_.front();
        relayed_.pop_front();
        ShardPipeline::Computed c;
        if (executor_)
          c = compute_shard(*executor_, setup_->plan, job.shard, job.code != 0);
        else
          c.outcome = {false, "rank " + std::to_string(comm_.rank()) + " did not start"};
        Message r{c.outcome.ok ? MessageType::Done : MessageType::Failed};
        r.shard = job.shard;
        r.text = c.outcome.error;
        comm_.send(job.source, r);
        continue;
      }
      if (aborted_) break;
      Message m;
      if (comm_.wait(m, 0.1)) handle(m);
      notice_signal();
    }
  }

  orchestrator::Comm& comm_;
  const WorkerOptions& options_;
  std::shared_ptr<spdlog::logger> log_;
  std::unique_ptr<orchestrator::SweepSetup> setup_;
  std::vector<int> group_ranks_{comm_.rank()};
  std::unique_ptr<model::Collective> group_;
  std::unique_ptr<ShardPipeline> pipeline_;  // the leader's
  std::unique_ptr<ShardExecutor> executor_;  // a member's
  std::deque<uint32_t> queue_;               // the leader's ASSIGNed shards
  std::deque<Message> relayed_;              // a member's shards from its leader
  std::vector<Message> member_replies_;
  int group_size_ = 1;  // from START: tensor_parallel as rank 0 resolved it
  bool stop_ = false, started_ = false, signaled_ = false, aborted_ = false;
  int stop_code_ = 0;
};

}  // namespace

int run_worker(orchestrator::Comm& comm, const WorkerOptions& options) {
  orchestrator::install_drain_signal_handlers();
  return WorkerRank(comm, options).run();
}

}  // namespace csweep::worker
