#include "orchestrator/comm.h"

#include <mpi.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <thread>

#include "common/error.h"

namespace csweep::orchestrator {

namespace {
void check(int rc, const char* what) {
  if (rc != MPI_SUCCESS) {
    char msg[MPI_MAX_ERROR_STRING];
    int len = 0;
    MPI_Error_string(rc, msg, &len);
    throw Error(std::string("MPI: ") + what + ": " + std::string(msg, len));
  }
}
}  // namespace

std::string this_hostname() {
  char buf[256] = {0};
  ::gethostname(buf, sizeof buf - 1);
  return buf;
}

Comm& Comm::world() {
  static Comm comm;
  return comm;
}

Comm::Comm() {
  int initialized = 0;
  MPI_Initialized(&initialized);
  if (!initialized) {
    int provided = 0;
    check(MPI_Init_thread(nullptr, nullptr, MPI_THREAD_MULTIPLE, &provided), "MPI_Init_thread");
    if (provided < MPI_THREAD_MULTIPLE)
      throw Error("MPI: the library does not provide MPI_THREAD_MULTIPLE (needed for worker heartbeats)");
  }
  MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
  MPI_Comm_size(MPI_COMM_WORLD, &size_);
}

void Comm::send(int dest, const Message& m) {
  const std::string buf = encode(m);
  check(MPI_Send(buf.data(), static_cast<int>(buf.size()), MPI_BYTE, dest, kProtocolTag, MPI_COMM_WORLD), "MPI_Send");
}

bool Comm::poll(Message& out) {
  int flag = 0;
  MPI_Status st;
  check(MPI_Iprobe(MPI_ANY_SOURCE, kProtocolTag, MPI_COMM_WORLD, &flag, &st), "MPI_Iprobe");
  if (!flag) return false;
  int count = 0;
  MPI_Get_count(&st, MPI_BYTE, &count);
  std::string buf(static_cast<size_t>(count), '\0');
  check(MPI_Recv(buf.data(), count, MPI_BYTE, st.MPI_SOURCE, kProtocolTag, MPI_COMM_WORLD, MPI_STATUS_IGNORE), "MPI_Recv");
  out = decode(buf.data(), buf.size(), st.MPI_SOURCE);
  return true;
}

bool Comm::wait(Message& out, double timeout_s, const volatile int* interrupt) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout_s);
  // Probe hot for a few microseconds (a busy coordinator answers in ~µs), then back off to
  // 50 µs sleeps so idle ranks do not burn the cores the workers need.
  int spins = 0;
  while (true) {
    if (poll(out)) return true;
    if (interrupt && *interrupt) return false;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    if (++spins > 200) std::this_thread::sleep_for(std::chrono::microseconds(50));
  }
}

std::vector<std::string> Comm::all_hostnames() {
  constexpr int kLen = 256;
  std::string mine = this_hostname();
  mine.resize(kLen, '\0');
  std::string all(static_cast<size_t>(kLen) * size_, '\0');
  check(MPI_Allgather(mine.data(), kLen, MPI_CHAR, all.data(), kLen, MPI_CHAR, MPI_COMM_WORLD), "MPI_Allgather");
  std::vector<std::string> out;
  for (int r = 0; r < size_; ++r) out.emplace_back(all.c_str() + static_cast<size_t>(r) * kLen);
  return out;
}

void Comm::barrier() { check(MPI_Barrier(MPI_COMM_WORLD), "MPI_Barrier"); }

void Comm::finalize() {
  if (finalized_) return;
  finalized_ = true;
  int fin = 0;
  MPI_Finalized(&fin);
  if (!fin) MPI_Finalize();
}

void Comm::abort(int code) {
  MPI_Abort(MPI_COMM_WORLD, code);
  std::_Exit(code);
}

}  // namespace csweep::orchestrator
