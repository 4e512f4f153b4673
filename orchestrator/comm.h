#pragma once
// How ranks of `csweep run` talk: point-to-point messages of the protocol (protocol.h) plus
// the one collective start-up needs. Two implementations: MpiComm (orchestrator/mpi_comm.h,
// the only place that calls MPI) and InProcessWorld's endpoints
// (orchestrator/in_process_comm.h: threads of one process, for the coordinator's tests).
#include <string>
#include <vector>

#include "orchestrator/protocol.h"

namespace csweep::orchestrator {

class Comm {
 public:
  virtual ~Comm() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;
  bool launched() const { return size() > 1; }

  virtual void send(int dest, const Message& m) = 0;  // thread-safe (worker heartbeats)
  virtual bool poll(Message& out) = 0;                // false when nothing has arrived
  // Blocks until a message arrives, `timeout_s` passes or `*interrupt` becomes true. This
  // default probes hot for a few microseconds (a busy coordinator answers in ~µs), then backs
  // off to 50 µs sleeps so idle ranks do not burn the cores the workers need.
  virtual bool wait(Message& out, double timeout_s, const volatile int* interrupt = nullptr);

  virtual std::vector<std::string> all_hostnames() = 0;  // collective, rank order
  virtual void finalize() = 0;                           // idempotent
  [[noreturn]] virtual void abort(int code) = 0;         // ends every rank with `code`
};

std::string this_hostname();

}  // namespace csweep::orchestrator
