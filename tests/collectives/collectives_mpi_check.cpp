// Run under mpirun by tests/collectives/collectives_test.cpp: every rank runs the backend checks
// on the whole world and on the groups of two that MPI_Comm_split makes (as tensor-parallel
// groups are made), then prints "rank R: ok" or the failure and exits non-zero.
#include <mpi.h>

#include <cstdio>

#include "collectives/mpi_collective.h"
#include "tests/collectives/collective_checks.h"

int main(int argc, char** argv) {
  MPI_Init(&argc, &argv);
  int rank = 0, size = 1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  int failed = 0;
  try {
    auto world = csweep::collectives::MpiCollective::split(MPI_COMM_WORLD, 0, rank);
    csweep::testing::check_collective(*world, at::kCPU);
    auto pair = csweep::collectives::MpiCollective::split(MPI_COMM_WORLD, rank / 2, rank);
    if (pair->rank() != rank % 2) throw std::runtime_error("group rank is not the key's order");
    csweep::testing::check_collective(*pair, at::kCPU);
    std::printf("rank %d: ok (world %d, group %d of %d)\n", rank, world->size(), pair->rank(),
                pair->size());
  } catch (const std::exception& e) {
    std::printf("rank %d: FAILED: %s\n", rank, e.what());
    failed = 1;
  }
  std::fflush(stdout);
  int any = 0;
  MPI_Allreduce(&failed, &any, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
  MPI_Finalize();
  return any;
}
