// Where a world's ranks go: CPU profiles fill the task slots in order; GPU profiles keep rank 0
// (the coordinator, no GPU) off the GPU slots, as an extra task on the first node.
#include "cluster/rank_placement.h"

#include <gtest/gtest.h>

namespace csweep::cluster {
namespace {

ClusterProfile profile(int nodes, int tasks_per_node, int gpus_per_node) {
  ClusterProfile p;
  p.nodes = nodes;
  p.tasks_per_node = tasks_per_node;
  p.gpus_per_node = gpus_per_node;
  return p;
}

TEST(RankPlacement, GpuNodesHoldOneGroupEachAndRankZeroRidesOnTheFirst) {
  const ClusterProfile gpu = profile(4, 8, 8);
  EXPECT_EQ(ranks_to_offer(gpu), 33);
  const RankPlacement p = place_ranks(gpu, 33);
  EXPECT_TRUE(p.coordinator_extra);
  EXPECT_EQ(p.tasks, 32);
  EXPECT_EQ(p.nodes, 4);
  EXPECT_EQ(p.tasks_per_node, 8);
  // Worker k (rank k+1) is on node k / 8: groups of 8 consecutive workers never straddle nodes.
  for (int rank = 1; rank < 33; ++rank) EXPECT_EQ(p.node_of(rank), (rank - 1) / 8) << rank;
  EXPECT_EQ(p.node_of(0), 0);
  EXPECT_EQ(describe_nodes(p),
            "node 1: ranks 0-8, node 2: ranks 9-16, node 3: ranks 17-24, node 4: ranks 25-32");
}

TEST(RankPlacement, AGpuPlanUsingFewerRanksGetsFewerNodes) {
  const RankPlacement p = place_ranks(profile(4, 8, 8), 17);  // two groups of 8
  EXPECT_EQ(p.tasks, 16);
  EXPECT_EQ(p.nodes, 2);
  EXPECT_EQ(describe_nodes(p), "node 1: ranks 0-8, node 2: ranks 9-16");
  const RankPlacement small = place_ranks(profile(4, 8, 8), 3);  // one group of 2
  EXPECT_EQ(small.tasks, 2);
  EXPECT_EQ(small.nodes, 1);
  EXPECT_EQ(small.tasks_per_node, 2);
  // One rank computes itself, on the GPU: nothing to set aside.
  const RankPlacement one = place_ranks(profile(1, 1, 1), 1);
  EXPECT_FALSE(one.coordinator_extra);
  EXPECT_EQ(one.tasks, 1);
  EXPECT_EQ(describe_nodes(one), "node 1: rank 0");
}

TEST(RankPlacement, CpuProfilesFillTheSlotsInOrder) {
  const ClusterProfile cpu = profile(2, 4, 0);
  EXPECT_EQ(ranks_to_offer(cpu), 8);
  const RankPlacement p = place_ranks(cpu, 8);
  EXPECT_FALSE(p.coordinator_extra);
  EXPECT_EQ(p.tasks, 8);
  EXPECT_EQ(p.nodes, 2);
  EXPECT_EQ(p.node_of(3), 0);
  EXPECT_EQ(p.node_of(4), 1);
  EXPECT_EQ(describe_nodes(p), "node 1: ranks 0-3, node 2: ranks 4-7");
  const RankPlacement fewer = place_ranks(cpu, 5);
  EXPECT_EQ(fewer.nodes, 2);
  EXPECT_EQ(fewer.tasks_per_node, 4);
}

}  // namespace
}  // namespace csweep::cluster
