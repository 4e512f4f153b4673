// Run under mpirun by TensorParallelKinds.MpiRanksMatchOneProcess: the MPI world is one
// tensor-parallel group; every rank computes every TensorParallelKinds request on each fixture
// folder named on the command line, once in one process and once on the group, then prints
// "rank R: ok" or the first mismatch and exits non-zero.
#include "tests/analyses/tp_kind_cases.h"
#include "tests/model/tp_checks.h"
#include "tests/model/tp_mpi_report.h"

int main(int argc, char** argv) {
  using namespace csweep::analyses;
  return csweep::model::testing::run_mpi_check(
      argc, argv, [](const std::filesystem::path& dir, csweep::model::Collective& group) {
        const auto one = tp_kind_model(dir, nullptr);
        const std::vector<TpKindCase> all = tp_kind_cases(one->config(), tp_kind_prompt(dir));
        const auto want = tp_kind_outputs(*one, all);
        const auto got = tp_kind_outputs(*tp_kind_model(dir, &group), all);
        return csweep::model::testing::tp_mismatch(want, got, 1e-5);
      });
}
