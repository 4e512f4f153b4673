// Run under mpirun by TensorParallel.MpiRanksMatchOneProcess: the MPI world is one
// tensor-parallel group; every rank loads each fixture folder named on the command line both
// whole and sliced, compares tp_outputs of the two, then prints "rank R: ok" or the first
// mismatch and exits non-zero.
#include <mpi.h>

#include <ATen/Parallel.h>

#include "collectives/mpi_collective.h"
#include "tests/model/tp_checks.h"
#include "tests/model/tp_mpi_report.h"

int main(int argc, char** argv) {
  using namespace csweep::model;
  MPI_Init(&argc, &argv);
  at::set_num_threads(1);  // the ranks share two cores
  int rank = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  std::string failure;
  try {
    auto group = csweep::collectives::MpiCollective::split(MPI_COMM_WORLD, 0, rank);
    for (int i = 1; i < argc && failure.empty(); ++i) {
      const std::filesystem::path dir = argv[i];
      const at::Tensor tokens = testing::tp_tokens(dir);
      const auto want = testing::tp_outputs(*Model::load(dir), tokens);
      LoadOptions options;
      options.tensor_parallel = group.get();
      const auto got = testing::tp_outputs(*Model::load(dir, options), tokens);
      const std::string why = testing::tp_mismatch(want, got, 1e-5);
      if (!why.empty()) failure = dir.filename().string() + ": " + why;
    }
  } catch (const std::exception& e) {
    failure = e.what();
  }
  return testing::finish_mpi_check(rank, failure);
}
