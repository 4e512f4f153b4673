#pragma once
// The MPI implementation of Comm and the only place that calls MPI: one world communicator,
// the protocol's messages as MPI_BYTE buffers on tag kProtocolTag.
#include "orchestrator/comm.h"

namespace csweep::orchestrator {

class MpiComm final : public Comm {
 public:
  // MPI_Init_thread(MPI_THREAD_MULTIPLE) unless MPI is already initialised. Started without
  // a launcher this is a singleton world of size 1.
  static MpiComm& world();
  int rank() const override { return rank_; }
  int size() const override { return size_; }

  void send(int dest, const Message& m) override;  // MPI_THREAD_MULTIPLE
  bool poll(Message& out) override;                // MPI_Iprobe(ANY_SOURCE) + MPI_Recv
  std::vector<std::string> all_hostnames() override;
  void finalize() override;
  [[noreturn]] void abort(int code) override;  // MPI_Abort

 private:
  MpiComm();
  int rank_ = 0;
  int size_ = 1;
  bool finalized_ = false;
};

}  // namespace csweep::orchestrator
