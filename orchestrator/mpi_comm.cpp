#include "orchestrator/mpi_comm.h"

#include <mpi.h>

#include <cstdlib>

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

MpiComm& MpiComm::world() {
  static MpiComm comm;
  return comm;
}

MpiComm::MpiComm() {
  int initialized = 0;
  MPI_Initialized(&initialized);
  if (!initialized) {
    int provided = 0;
    check(MPI_Init_thread(nullptr, nullptr, MPI_THREAD_MULTIPLE, &provided), "MPI_Init_thread");
    if (provided < MPI_THREAD_MULTIPLE)
      throw Error(
          "MPI: the library does not provide MPI_THREAD_MULTIPLE (needed for worker heartbeats)");
  }
  MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
  MPI_Comm_size(MPI_COMM_WORLD, &size_);
}

void MpiComm::send(int dest, const Message& m) {
  const std::string buf = encode(m);
  check(MPI_Send(buf.data(), static_cast<int>(buf.size()), MPI_BYTE, dest, kProtocolTag,
                 MPI_COMM_WORLD),
        "MPI_Send");
}

bool MpiComm::poll(Message& out) {
  int flag = 0;
  MPI_Status st;
  check(MPI_Iprobe(MPI_ANY_SOURCE, kProtocolTag, MPI_COMM_WORLD, &flag, &st), "MPI_Iprobe");
  if (!flag) return false;
  int count = 0;
  MPI_Get_count(&st, MPI_BYTE, &count);
  std::string buf(static_cast<size_t>(count), '\0');
  check(MPI_Recv(buf.data(), count, MPI_BYTE, st.MPI_SOURCE, kProtocolTag, MPI_COMM_WORLD,
                 MPI_STATUS_IGNORE),
        "MPI_Recv");
  out = decode(buf.data(), buf.size(), st.MPI_SOURCE);
  return true;
}

std::vector<std::string> MpiComm::all_hostnames() {
  constexpr int kLen = 256;
  std::string mine = this_hostname();
  mine.resize(kLen, '\0');
  std::string all(static_cast<size_t>(kLen) * size_, '\0');
  check(MPI_Allgather(mine.data(), kLen, MPI_CHAR, all.data(), kLen, MPI_CHAR, MPI_COMM_WORLD),
        "MPI_Allgather");
  std::vector<std::string> out;
  for (int r = 0; r < size_; ++r) out.emplace_back(all.c_str() + static_cast<size_t>(r) * kLen);
  return out;
}

void MpiComm::finalize() {
  if (finalized_) return;
  finalized_ = true;
  int fin = 0;
  MPI_Finalized(&fin);
  if (!fin) MPI_Finalize();
}

void MpiComm::abort(int code) {
  MPI_Abort(MPI_COMM_WORLD, code);
  std::_Exit(code);
}

}  // namespace csweep::orchestrator
