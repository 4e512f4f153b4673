// model::Collective's backends: in-process (threads), MPI (real ranks under mpirun) and NCCL
// (loaded and refused here; run on a GPU by scripts/gpu-check.sh), all held to the same checks.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <thread>

#include "collectives/nccl_collective.h"
#include "model/cuda_backend.h"
#include "model/in_process_collective.h"
#include "tests/collectives/collective_checks.h"
#include "tests/error_of.h"

namespace csweep {
namespace {

// Runs `body(rank's endpoint)` on one thread per rank; the first failure, if any.
template <typename Body>
std::string on_every_rank(model::InProcessGroup& group, Body body) {
  std::vector<std::string> failures(group.size());
  std::vector<std::thread> threads;
  for (int r = 0; r < group.size(); ++r) {
    threads.emplace_back([&, r] {
      try {
        body(group.rank(r));
      } catch (const std::exception& e) {
        failures[r] = "rank " + std::to_string(r) + ": " + e.what();
      }
    });
  }
  for (auto& t : threads) t.join();
  for (const auto& f : failures)
    if (!f.empty()) return f;
  return "";
}

TEST(InProcessCollective, EveryBackendCheckPassesForOneToFourRanks) {
  for (int size : {1, 2, 3, 4}) {
    model::InProcessGroup group(size);
    EXPECT_EQ(
        on_every_rank(group, [](model::Collective& c) { testing::check_collective(c, at::kCPU); }),
        "")
        << size << " ranks";
  }
}

TEST(InProcessCollective, ManyRoundsInARowStayInStep) {
  model::InProcessGroup group(3);
  EXPECT_EQ(on_every_rank(group,
                          [](model::Collective& c) {
                            for (int i = 0; i < 200; ++i) {
                              testing::check_all_reduce(c, at::kFloat, at::kCPU);
                              testing::check_broadcast(c, i % 3, at::kCPU);
                            }
                          }),
            "");
}

TEST(InProcessCollective, MismatchedShapesFailOnEveryRankAndTheGroupGoesOn) {
  model::InProcessGroup group(2);
  std::vector<std::string> errors(2);
  std::vector<std::thread> threads;
  for (int r = 0; r < 2; ++r) {
    threads.emplace_back([&, r] {
      at::Tensor t = at::ones({r + 1});
      errors[r] = testing::error_of([&] { group.rank(r).all_reduce_sum(t); });
      testing::check_all_reduce(group.rank(r), at::kFloat, at::kCPU);  // the next round works
    });
  }
  for (auto& t : threads) t.join();
  for (const auto& e : errors)
    EXPECT_EQ(e, "collective (in-process): ranks passed tensors of different shapes or dtypes");
}

TEST(InProcessCollective, BadArgumentsAreOneLineErrorsBeforeAnyExchange) {
  model::InProcessGroup group(2);
  at::Tensor t = at::ones({2, 3});
  EXPECT_EQ(testing::error_of([&] { group.rank(0).broadcast(t, 2); }),
            "collective (in-process): broadcast: root 2 outside [0, 2)");
  EXPECT_EQ(testing::error_of([&] { group.rank(1).all_gather(t, 2); }),
            "collective (in-process): all_gather: dim 2 outside a 2-d tensor");
  EXPECT_EQ(testing::error_of([&] { group.rank(5); }),
            "collective (in-process): rank 5 outside [0, 2)");
}

TEST(SingleRankCollective, EveryCollectiveIsTheIdentity) {
  model::SingleRank one;
  testing::check_collective(one, at::kCPU);
}

#ifdef CSWEEP_TEST_MPI_CHECK
// Real ranks: the world and its groups of two, for 2 and 4 ranks (4 on 2 cores: oversubscribed).
TEST(MpiCollective, EveryBackendCheckPassesUnderMpirun) {
  for (int np : {2, 4}) {
    const std::string out =
        std::string(CSWEEP_BINARY_DIR) + "/test-tmp/collectives_mpi_" + std::to_string(np) + ".txt";
    std::filesystem::create_directories(std::string(CSWEEP_BINARY_DIR) + "/test-tmp");
    const std::string command = "mpirun -np " + std::to_string(np) + " --oversubscribe " +
                                CSWEEP_TEST_MPI_CHECK + " > " + out + " 2>&1";
    const int rc = std::system(command.c_str());
    std::ifstream in(out);
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    EXPECT_EQ(rc, 0) << text;
    for (int r = 0; r < np; ++r)
      EXPECT_NE(text.find("rank " + std::to_string(r) + ": ok"), std::string::npos) << text;
  }
}
#endif

TEST(NcclCollective, TheWheelsNcclLoadsWithEverySymbol) {
  std::string version;
  ASSERT_TRUE(collectives::nccl_available(&version)) << version;
  EXPECT_EQ(version.rfind("2.", 0), 0u) << version;
}

TEST(NcclCollective, RefusedInOneLineWithoutAGpu) {
  if (model::cuda_device_count() > 0) GTEST_SKIP() << "a GPU is present";
  model::SingleRank bootstrap;
  EXPECT_EQ(testing::error_of([&] { collectives::NcclCollective::create(bootstrap, 0); }),
            "collective (nccl): device cuda:0 but this machine has 0 CUDA GPU(s)");
}

// TP = 1 on the NCCL code path (one H200 in scripts/gpu-check.sh).
TEST(NcclCollective, OneRankGroupOnTheGpuPassesEveryCheck) {
  if (model::cuda_device_count() == 0) GTEST_SKIP() << "no CUDA GPU";
  model::SingleRank bootstrap;
  auto nccl = collectives::NcclCollective::create(bootstrap, 0);
  testing::check_collective(*nccl, at::Device(at::kCUDA, 0));
}

}  // namespace
}  // namespace csweep
