// The memory-per-rank check of plan and run (sharding/memory_fit.h): which limit applies and
// which field a refusal names.
#include "sharding/memory_fit.h"

#include <gtest/gtest.h>

#include "common/error.h"
#include "jobs/kinds/kind_registry.h"

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

// tensor_parallel: auto picks the smallest T that splits the model, fits and fills the ranks.
TEST(MemoryFit, AutoTensorParallelIsTheSmallestSplitThatFitsAndFillsTheRanks) {
  jobs::JobSpec spec;
  spec.file = "job.yaml";
  spec.model.tensor_parallel = 0;  // auto
  spec.model.device = "cuda:0";
  model::ModelConfig config;
  config.n_heads = 12;  // T in {1, 2, 3, 4, 6, 12}; the MLP width must split too
  config.n_kv_heads = 12;
  config.d_mlp = 48;
  Plan plan;
  plan.weight_bytes = 1200;
  plan.max_shard_memory_bytes = 100;
  const MemoryLimit limit{450, "--mem-per-rank"};
  EXPECT_EQ(choose_tensor_parallel(spec, config, plan, 1, limit), 4);   // 300 + 100
  EXPECT_EQ(choose_tensor_parallel(spec, config, plan, 13, limit), 4);  // 12 workers: 3 groups
  EXPECT_EQ(choose_tensor_parallel(spec, config, plan, 7, limit),
            6);  // 6 workers: 4 does not divide
  EXPECT_EQ(choose_tensor_parallel(spec, config, plan, 1, {1300, "x"}), 1);
  auto refusal_of = [&](int ranks, const MemoryLimit& l) -> std::string {
    try {
      choose_tensor_parallel(spec, config, plan, ranks, l);
    } catch (const Error& e) {
      return e.what();
    }
    return "";
  };
  config.d_mlp = 44;  // 44 neurons split 1, 2 or 4 ways: with 6 workers only 1 and 2, too small
  EXPECT_EQ(refusal_of(7, limit).rfind("job.yaml: model.tensor_parallel: auto: no tensor-parallel "
                                       "size fits 450 B per rank (--mem-per-rank) and divides the "
                                       "6 worker ranks",
                                       0),
            0u)
      << refusal_of(7, limit);
  EXPECT_NE(refusal_of(1, {}).find("auto: the memory per rank is unknown for device cuda:0"),
            std::string::npos);
  config.d_mlp = 48;
  spec.analyses.push_back({});
  spec.analyses.back().kind = &jobs::kind("attribution_patching");  // needs gradients: T = 1 only
  EXPECT_EQ(choose_tensor_parallel(spec, config, plan, 1, {1300, "x"}), 1);
  EXPECT_NE(refusal_of(1, limit).find("needs gradients"), std::string::npos)
      << refusal_of(1, limit);
  spec.model.tensor_parallel = 3;  // a number is taken as given
  EXPECT_EQ(choose_tensor_parallel(spec, config, plan, 1, {}), 3);
}

}  // namespace
}  // namespace csweep::sharding
