#pragma once
// A world of `size` ranks inside one process: one endpoint (a Comm) per rank, each rank run
// by its own thread, one FIFO mailbox per rank. Messages go through encode/decode like MPI's
// bytes, so the coordinator and worker loops run unchanged; what mpirun would add (separate
// processes, a network) is what the end-to-end tests cover.
//
// A lost node is simulated with cut_off(rank): from then on whatever the rank sends and
// whatever is sent to it vanishes, as with a node that died or a cable that was pulled.
// abort() on any endpoint records the code and throws InProcessAbort in the calling thread
// (MPI_Abort would end every process).
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <vector>

#include "common/error.h"
#include "orchestrator/comm.h"

namespace csweep::orchestrator {

struct InProcessAbort : Error {
  InProcessAbort(int rank, int code);
  int code;
};

class InProcessWorld {
 public:
  explicit InProcessWorld(int size);
  ~InProcessWorld();
  InProcessWorld(const InProcessWorld&) = delete;
  InProcessWorld& operator=(const InProcessWorld&) = delete;

  int size() const { return static_cast<int>(endpoints_.size()); }
  Comm& endpoint(int rank);
  void cut_off(int rank);
  bool is_cut_off(int rank) const;
  int abort_code() const;  // -1 until some rank called abort()

 private:
  class Endpoint;
  friend class Endpoint;
  void deliver(int source, int dest, const Message& m);
  bool take(int rank, Message& out, double timeout_s, const volatile int* interrupt);

  struct Mailbox {
    std::deque<std::string> bytes;
    std::deque<int> sources;
  };
  mutable std::mutex mutex_;
  std::condition_variable arrived_;
  std::vector<Mailbox> mailboxes_;
  std::vector<bool> cut_;
  int abort_code_ = -1;
  std::vector<std::unique_ptr<Endpoint>> endpoints_;
};

}  // namespace csweep::orchestrator
