// Run under mpirun by TensorParallelKinds.MpiRanksMatchOneProcess: the MPI world is one
// tensor-parallel group; every rank computes every TensorParallelKinds request on each fixture
// folder named on the command line, once in one process and once on the group, then prints
// "rank R: ok" or the first mismatch and exits non-zero.
#include <mpi.h>

#include <ATen/Parallel.h>

#include "collectives/mpi_collective.h"
#include "tests/analyses/tp_kind_cases.h"
#include "tests/model/tp_checks.h"
#include "tests/model/tp_mpi_report.h"

int main(int argc, char** argv) {
  using namespace csweep::analyses;
  MPI_Init(&argc, &argv);
  at::set_num_threads(1);  // the ranks share two cores
  int rank = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  std::string failure;
  try {
    auto group = csweep::collectives::MpiCollective::split(MPI_COMM_WORLD, 0, rank);
    for (int i = 1; i < argc && failure.empty(); ++i) {
      const std::filesystem::path dir = argv[i];
      const auto one = tp_kind_model(dir, nullptr);
      const std::vector<TpKindCase> all = tp_kind_cases(one->config(), tp_kind_prompt(dir));
      const auto want = tp_kind_outputs(*one, all);
      const auto got = tp_kind_outputs(*tp_kind_model(dir, group.get()), all);
      const std::string why = csweep::model::testing::tp_mismatch(want, got, 1e-5);
      if (!why.empty()) failure = dir.filename().string() + ": " + why;
    }
  } catch (const std::exception& e) {
    failure = e.what();
  }
  return csweep::model::testing::finish_mpi_check(rank, failure);
}
