#pragma once
// The only place that calls MPI. One world communicator; point-to-point messages of the
// protocol (protocol.h) plus the few collectives start-up needs.
#include <string>
#include <vector>

#include "orchestrator/protocol.h"

namespace csweep::orchestrator {

class Comm {
 public:
  // MPI_Init_thread(MPI_THREAD_MULTIPLE) unless MPI is already initialised. Started without
  // a launcher this is a singleton world of size 1.
  static Comm& world();
  int rank() const { return rank_; }
  int size() const { return size_; }
  bool launched() const { return size_ > 1; }

  void send(int dest, const Message& m);  // thread-safe (MPI_THREAD_MULTIPLE)
  bool poll(Message& out);                // MPI_Iprobe(ANY_SOURCE) + MPI_Recv; false when none
  // Blocks (polling, sleeping ~50 µs between probes) until a message arrives or
  // `timeout_s` passes or `*interrupt` becomes true.
  bool wait(Message& out, double timeout_s, const volatile int* interrupt = nullptr);

  std::vector<std::string> all_hostnames();  // collective, rank order
  void barrier();
  void finalize();                           // idempotent
  [[noreturn]] void abort(int code);

 private:
  Comm();
  int rank_ = 0;
  int size_ = 1;
  bool finalized_ = false;
};

std::string this_hostname();

}  // namespace csweep::orchestrator
