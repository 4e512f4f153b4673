// Run under mpirun by TensorParallel.MpiRanksMatchOneProcess: the MPI world is one
// tensor-parallel group; every rank loads each fixture folder named on the command line both
// whole and sliced, compares tp_outputs of the two, then prints "rank R: ok" or the first
// mismatch and exits non-zero.
#include "tests/model/tp_checks.h"
#include "tests/model/tp_mpi_report.h"

int main(int argc, char** argv) {
  using namespace csweep::model;
  return testing::run_mpi_check(
      argc, argv, [](const std::filesystem::path& dir, Collective& group) {
        const at::Tensor tokens = testing::tp_tokens(dir);
        const auto want = testing::tp_outputs(*Model::load(dir), tokens);
        LoadOptions options;
        options.tensor_parallel = &group;
        const auto got = testing::tp_outputs(*Model::load(dir, options), tokens);
        return testing::tp_mismatch(want, got, 1e-5);
      });
}
