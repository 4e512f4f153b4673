// The memory-per-rank check of plan and run (sharding/memory_fit.h): which limit applies and
// which field a refusal names.
#include "sharding/memory_fit.h"

#include <gtest/gtest.h>

#include "common/error.h"

namespace csweep::sharding {
namespace {

std::string refusal(const Plan& plan, int tp, uint64_t limit) {
  jobs::JobSpec spec;
  spec.file = "job.yaml";
  try {
    check_memory_fits(spec, plan, tp, MemoryLimit{limit, "--mem-per-rank"});
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(MemoryFit, WeightsAreSharedByTheTensorParallelRanks) {
  Plan plan;
  plan.weight_bytes = 1001;
  plan.max_shard_memory_bytes = 50;
  EXPECT_EQ(rank_memory(plan, 1).total(), 1051u);
  EXPECT_EQ(rank_memory(plan, 2).weights, 501u);  // rounded up: no rank holds less
  EXPECT_EQ(rank_memory(plan, 0).weights, 1001u);
}

TEST(MemoryFit, RefusalNamesTheFieldThatCanMakeItFit) {
  Plan plan;
  plan.weight_bytes = 1000;
  plan.max_shard_memory_bytes = 500;
  EXPECT_EQ(refusal(plan, 1, 1500), "");
  EXPECT_EQ(refusal(plan, 1, 0), "");  // no limit known: nothing checked
  EXPECT_EQ(refusal(plan, 1, 1499).rfind("job.yaml: sharding.memory_budget: one rank needs ", 0),
            0u)
      << refusal(plan, 1, 1499);
  EXPECT_EQ(refusal(plan, 1, 999).rfind("job.yaml: model.tensor_parallel: one rank needs ", 0), 0u)
      << refusal(plan, 1, 999);
  EXPECT_EQ(refusal(plan, 2, 1000), "");  // 500 + 500 with two tensor-parallel ranks
  EXPECT_NE(refusal(plan, 1, 999).find("(--mem-per-rank)"), std::string::npos);
}

TEST(MemoryFit, TheLimitIsGivenOrTheHostsMemoryPerRankOnACpu) {
  EXPECT_EQ(memory_limit(100, "cuda:0", 4, 8000).bytes, 100u);
  EXPECT_EQ(memory_limit(100, "cpu", 4, 8000).source, "--mem-per-rank");
  EXPECT_EQ(memory_limit(0, "cpu", 4, 8000).bytes, 2000u);
  EXPECT_EQ(memory_limit(0, "cpu", 4, 8000).source, "host memory 7.8 KiB / 4 ranks");
  EXPECT_EQ(memory_limit(0, "cpu", 1, 8000).source, "host memory 7.8 KiB");
  EXPECT_EQ(memory_limit(0, "cpu", 0, 8000).bytes, 8000u);
  EXPECT_EQ(memory_limit(0, "cuda:0", 1, 8000).bytes, 0u);  // a GPU's memory is not the host's
  EXPECT_EQ(memory_limit(0, "cpu", 1, 0).bytes, 0u);        // unknown host memory
}

TEST(MemoryFit, MemPerRankIsASize) {
  EXPECT_EQ(parse_mem_per_rank("16GiB"), uint64_t(16) << 30);
  EXPECT_EQ(parse_mem_per_rank("4000MB"), 4000000000u);
  EXPECT_EQ(parse_mem_per_rank("1.5KiB"), 1536u);
  for (const char* bad : {"", "lots", "0", "-1GiB", "16 G"})
    EXPECT_THROW(parse_mem_per_rank(bad), Error) << bad;
}

}  // namespace
}  // namespace csweep::sharding
