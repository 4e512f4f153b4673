#pragma once
// The frame of an mpirun tensor-parallel check (tp_mpi_check.cpp, tp_kinds_mpi_check.cpp): the
// MPI world is one tensor-parallel group; `check` runs on every rank for each fixture folder
// named on the command line and returns "" or why the group disagrees with one process. Each
// rank prints "rank R: ok" or "rank R: FAILED: why", and the process exits non-zero when any
// rank failed.
#include <mpi.h>

#include <ATen/Parallel.h>

#include <cstdio>
#include <exception>
#include <filesystem>
#include <functional>
#include <string>

#include "collectives/mpi_collective.h"

namespace csweep::model::testing {

inline int run_mpi_check(
    int argc, char** argv,
    const std::function<std::string(const std::filesystem::path&, Collective&)>& check) {
  MPI_Init(&argc, &argv);
  at::set_num_threads(1);  // the ranks share two cores
  int rank = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  std::string failure;
  try {
    auto group = csweep::collectives::MpiCollective::split(MPI_COMM_WORLD, 0, rank);
    for (int i = 1; i < argc && failure.empty(); ++i) {
      const std::filesystem::path dir = argv[i];
      const std::string why = check(dir, *group);
      if (!why.empty()) failure = dir.filename().string() + ": " + why;
    }
  } catch (const std::exception& e) {
    failure = e.what();
  }
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
