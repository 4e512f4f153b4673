// Every analysis kind under tensor parallelism (docs/tensor-parallel.md): a group of T ranks
// (threads on the in-process collective) loads its slices of an architecture fixture, applies
// TransformerLens's weight processing, and calls run_cells and baselines exactly as the worker
// does, in lockstep; each rank's cells and baselines must be what the one-process model gives,
// within 1e-5 (fp32; one part in 10^6 above magnitude 10, as the model's own TP tests).
#include <gtest/gtest.h>

#include <set>

#include "jobs/kinds/kind_registry.h"
#include "tests/analyses/tp_kind_cases.h"
#include "tests/model/reference/model_test_util.h"
#include "tests/model/tp_checks.h"

namespace csweep::analyses {
namespace {

namespace fs = std::filesystem;

// GPT-2 (learned positions), NeoX (parallel residual), Llama with 2 and with 1 KV heads (fewer
// than 4 ranks: replicated), Qwen2 (q/k/v biases, so b_V is folded into b_O), Qwen3 (q/k norms),
// Gemma 3 (local and global layers, logit softcapping).
std::vector<fs::path> fixtures() {
  std::vector<fs::path> dirs{model::testing::gpt2_fixture()};
  for (const char* v :
       {"neox_parallel", "llama_gqa_llama3_tied", "llama_untied", "qwen2", "qwen3", "gemma3"})
    dirs.push_back(model::testing::arch_fixtures() / v);
  return dirs;
}

std::vector<std::map<std::string, at::Tensor>> run_group(const fs::path& dir, int T,
                                                         const std::vector<TpKindCase>& all) {
  std::vector<std::string> errors;
  auto outputs = model::testing::on_thread_ranks(
      T, [&](model::Collective& rank) { return tp_kind_outputs(*tp_kind_model(dir, &rank), all); },
      errors);
  for (int r = 0; r < T; ++r) EXPECT_EQ(errors[static_cast<size_t>(r)], "") << "rank " << r;
  return outputs;
}

TEST(TensorParallelKinds, EveryKindGivesTheOneProcessCellsAtTwoAndFourRanks) {
  for (const fs::path& dir : fixtures()) {
    SCOPED_TRACE(dir.filename().string());
    const auto one = tp_kind_model(dir, nullptr);
    const std::vector<TpKindCase> all = tp_kind_cases(one->config(), tp_kind_prompt(dir));
    const auto want = tp_kind_outputs(*one, all);
    double largest_diff = 0.0;
    for (int T : {2, 4}) {
      const auto got = run_group(dir, T, all);
      for (int r = 0; r < T; ++r) {
        const auto& mine = got[static_cast<size_t>(r)];
        EXPECT_EQ(model::testing::tp_mismatch(want, mine, 1e-5), "") << "T " << T << " rank " << r;
        for (const auto& [name, w] : want)
          if (mine.count(name) && mine.at(name).sizes() == w.sizes())
            largest_diff = std::max(
                largest_diff,
                (mine.at(name).to(at::kDouble) - w.to(at::kDouble)).abs().max().item<double>());
      }
    }
    std::printf("[tp kinds] %-24s %zu cases, cells at T=2,4 vs T=1: max abs diff %.3g\n",
                dir.filename().c_str(), all.size(), largest_diff);
  }
}

// The cases above cover every registered kind but those refused under tensor parallelism: a
// new kind must be added here (and made exact) or declare needs_gradients.
TEST(TensorParallelKinds, CoverEveryKindThatTensorParallelismRuns) {
  const auto config = model::load_model_config(model::testing::gpt2_fixture());
  std::set<std::string> covered;
  for (const TpKindCase& k : tp_kind_cases(config, {1, 2, 3, 4, 5, 6, 7, 8}))
    covered.insert(k.request.kind);
  for (const jobs::Kind* k : jobs::all_kinds())
    EXPECT_NE(covered.count(k->name) == 1, k->needs_gradients) << k->name;
}

// Autograd does not run through the collectives: attribution patching on a group is refused on
// every rank alike, before any collective, so no rank is left waiting.
TEST(TensorParallelKinds, AttributionPatchingIsRefusedOnEveryRank) {
  const fs::path dir = model::testing::gpt2_fixture();
  std::vector<std::string> errors;
  model::testing::on_thread_ranks(
      2,
      [&](model::Collective& rank) {
        auto m = tp_kind_model(dir, &rank);
        SweepRequest r = tp_kind_cases(m->config(), tp_kind_prompt(dir)).at(0).request;
        r.kind = "attribution_patching";
        CacheStore caches;
        return run_cells(*m, r, 0, 1, caches);
      },
      errors);
  for (const std::string& e : errors)
    EXPECT_NE(e.find("attribution_patching: needs gradients through the collectives, which "
                     "tensor parallelism does not support; use model.tensor_parallel: 1"),
              std::string::npos)
        << e;
}

// Real ranks: the MPI world of 2 and of 4 processes (oversubscribed) as one group, through
// tp_kinds_mpi_check (built next to this test where MPI is), on GPT-2 (b_V folded into b_O,
// learned positions) and Llama with one KV head (replicated on every rank): the in-process test
// above covers the other fixtures with the same code.
TEST(TensorParallelKinds, MpiRanksMatchOneProcess) {
  const fs::path check = csweep::testing::build_path("tests/analyses/tp_kinds_mpi_check");
  if (!fs::exists(check)) GTEST_SKIP() << "no MPI build: " << check;
  const std::string dirs = " " + model::testing::gpt2_fixture().string() + " " +
                           (model::testing::arch_fixtures() / "llama_untied").string();
  for (int np : {2, 4}) {
    const fs::path out =
        csweep::testing::fresh_test_dir("analyses", "tp_kinds_mpi_" + std::to_string(np));
    const std::string command = "timeout 140 mpirun -np " + std::to_string(np) +
                                " --oversubscribe " + check.string() + dirs + " > " + out.string() +
                                " 2>&1";
    const int rc = std::system(command.c_str());
    const std::string text = model::testing::read_text(out);
    EXPECT_EQ(rc, 0) << text;
    for (int r = 0; r < np; ++r)
      EXPECT_NE(text.find("rank " + std::to_string(r) + ": ok"), std::string::npos) << text;
  }
}

}  // namespace
}  // namespace csweep::analyses
