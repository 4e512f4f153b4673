#pragma once
// The end of an mpirun tensor-parallel check (tp_mpi_check.cpp, tp_kinds_mpi_check.cpp): each
// rank prints "rank R: ok" or "rank R: FAILED: why", and the process exits non-zero when any
// rank failed.
#include <mpi.h>

#include <cstdio>
#include <string>

namespace csweep::model::testing {

// Prints this rank's line, finalises MPI and returns the exit status.
inline int finish_mpi_check(int rank, const std::string& failure) {
  if (failure.empty())
    std::printf("rank %d: ok\n", rank);
  else
    std::printf("rank %d: FAILED: %s\n", rank, failure.c_str());
  std::fflush(stdout);
  int failed = failure.empty() ? 0 : 1, any = 0;
  MPI_Allreduce(&failed, &any, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
  MPI_Finalize();
  return any;
}

}  // namespace csweep::model::testing
