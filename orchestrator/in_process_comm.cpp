#include "orchestrator/in_process_comm.h"

#include <algorithm>
#include <chrono>

namespace csweep::orchestrator {

InProcessAbort::InProcessAbort(int rank, int c)
    : Error("rank " + std::to_string(rank) + " aborted the in-process world with code " +
            std::to_string(c)),
      code(c) {}

class InProcessWorld::Endpoint final : public Comm {
 public:
  Endpoint(InProcessWorld& world, int rank) : world_(world), rank_(rank) {}
  int rank() const override { return rank_; }
  int size() const override { return world_.size(); }
  void send(int dest, const Message& m) override { world_.deliver(rank_, dest, m); }
  bool poll(Message& out) override { return world_.take(rank_, out, 0.0, nullptr); }
  bool wait(Message& out, double timeout_s, const volatile int* interrupt) override {
    return world_.take(rank_, out, timeout_s, interrupt);
  }
  std::vector<std::string> all_hostnames() override {
    return std::vector<std::string>(size(), this_hostname());
  }
  void finalize() override {}
  [[noreturn]] void abort(int code) override {
    {
      std::lock_guard<std::mutex> lock(world_.mutex_);
      if (world_.abort_code_ < 0) world_.abort_code_ = code;
    }
    throw InProcessAbort(rank_, code);
  }

 private:
  InProcessWorld& world_;
  int rank_;
};

InProcessWorld::InProcessWorld(int size) : mailboxes_(size), cut_(size, false) {
  if (size < 1)
    throw Error("in-process world: size must be at least 1, got " + std::to_string(size));
  for (int r = 0; r < size; ++r) endpoints_.push_back(std::make_unique<Endpoint>(*this, r));
}

InProcessWorld::~InProcessWorld() = default;

Comm& InProcessWorld::endpoint(int rank) {
  if (rank < 0 || rank >= size())
    throw Error("in-process world: no rank " + std::to_string(rank) + " in a world of " +
                std::to_string(size()));
  return *endpoints_[rank];
}

void InProcessWorld::cut_off(int rank) {
  std::lock_guard<std::mutex> lock(mutex_);
  cut_.at(rank) = true;
  mailboxes_[rank] = {};
}

bool InProcessWorld::is_cut_off(int rank) const {
  std::lock_guard<std::mutex> lock(mutex_);
  return cut_.at(rank);
}

int InProcessWorld::abort_code() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return abort_code_;
}

void InProcessWorld::deliver(int source, int dest, const Message& m) {
  std::string bytes = encode(m);
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (dest < 0 || dest >= size())
      throw Error("in-process world: rank " + std::to_string(source) + " sent to rank " +
                  std::to_string(dest) + ", outside a world of " + std::to_string(size()));
    if (cut_[source] || cut_[dest]) return;
    mailboxes_[dest].bytes.push_back(std::move(bytes));
    mailboxes_[dest].sources.push_back(source);
  }
  arrived_.notify_all();
}

bool InProcessWorld::take(int rank, Message& out, double timeout_s, const volatile int* interrupt) {
  // Wakes at least every millisecond to look at `interrupt` (a signal flag: no notification).
  const auto deadline = std::chrono::steady_clock::now() +
                        std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                            std::chrono::duration<double>(timeout_s));
  std::unique_lock<std::mutex> lock(mutex_);
  Mailbox& box = mailboxes_[rank];
  while (box.bytes.empty()) {
    if (interrupt && *interrupt) return false;
    const auto now = std::chrono::steady_clock::now();
    if (now >= deadline) return false;
    arrived_.wait_until(lock, std::min(deadline, now + std::chrono::milliseconds(1)));
  }
  const std::string bytes = std::move(box.bytes.front());
  const int source = box.sources.front();
  box.bytes.pop_front();
  box.sources.pop_front();
  lock.unlock();
  out = decode(bytes.data(), bytes.size(), source);
  return true;
}

}  // namespace csweep::orchestrator
