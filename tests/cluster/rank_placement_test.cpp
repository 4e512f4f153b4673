// Where a world's ranks go: CPU profiles fill the task slots in order; GPU profiles keep rank 0
// (the coordinator, no GPU) off the GPU slots, as an extra task on the first node.
#include "cluster/rank_placement.h"

#include <gtest/gtest.h>

#include <string>
#include <utility>

namespace csweep::cluster {
namespace {

ClusterProfile profile(int nodes, int tasks_per_node, int gpus_per_node) {
  ClusterProfile p;
  p.nodes = nodes;
  p.tasks_per_node = tasks_per_node;
  p.gpus_per_node = gpus_per_node;
  return p;
}

// The allocation a placement asks for, in one comparable line.
std::string allocation(const RankPlacement& p) {
  std::string out = "ranks ";
  for (const auto& [text, value] : {std::pair<const char*, int>{"", p.ranks},
                                    {", --ntasks=", p.tasks},
                                    {" --nodes=", p.nodes},
                                    {" --ntasks-per-node=", p.tasks_per_node}}) {
    out += text;
    out += std::to_string(value);
  }
  if (p.coordinator_extra) out += ", rank 0 extra";
  return out;
}

TEST(RankPlacement, GpuNodesHoldOneGroupEachAndRankZeroRidesOnTheFirst) {
  const ClusterProfile gpu = profile(4, 8, 8);
  EXPECT_EQ(ranks_to_offer(gpu), 33);
  const RankPlacement p = place_ranks(gpu, 33);
  EXPECT_EQ(allocation(p), "ranks 33, --ntasks=32 --nodes=4 --ntasks-per-node=8, rank 0 extra");
  // Worker k (rank k+1) is on node k / 8: groups of 8 consecutive workers never straddle nodes.
  for (int rank = 1; rank < 33; ++rank) EXPECT_EQ(p.node_of(rank), (rank - 1) / 8) << rank;
  EXPECT_EQ(p.node_of(0), 0);
  EXPECT_EQ(describe_nodes(p),
            "node 1: ranks 0-8, node 2: ranks 9-16, node 3: ranks 17-24, node 4: ranks 25-32");
}

TEST(RankPlacement, AGpuPlanUsingFewerRanksGetsFewerNodes) {
  const RankPlacement two_groups = place_ranks(profile(4, 8, 8), 17);
  EXPECT_EQ(allocation(two_groups),
            "ranks 17, --ntasks=16 --nodes=2 --ntasks-per-node=8, rank 0 extra");
  EXPECT_EQ(describe_nodes(two_groups), "node 1: ranks 0-8, node 2: ranks 9-16");
  EXPECT_EQ(allocation(place_ranks(profile(4, 8, 8), 3)),
            "ranks 3, --ntasks=2 --nodes=1 --ntasks-per-node=2, rank 0 extra");
  // One rank computes itself, on the GPU: nothing to set aside.
  const RankPlacement one = place_ranks(profile(1, 1, 1), 1);
  EXPECT_EQ(allocation(one), "ranks 1, --ntasks=1 --nodes=1 --ntasks-per-node=1");
  EXPECT_EQ(describe_nodes(one), "node 1: rank 0");
}

TEST(RankPlacement, CpuProfilesFillTheSlotsInOrder) {
  const ClusterProfile cpu = profile(2, 4, 0);
  EXPECT_EQ(ranks_to_offer(cpu), 8);
  const RankPlacement p = place_ranks(cpu, 8);
  EXPECT_EQ(allocation(p), "ranks 8, --ntasks=8 --nodes=2 --ntasks-per-node=4");
  EXPECT_EQ(p.node_of(3), 0);
  EXPECT_EQ(p.node_of(4), 1);
  EXPECT_EQ(describe_nodes(p), "node 1: ranks 0-3, node 2: ranks 4-7");
  EXPECT_EQ(allocation(place_ranks(cpu, 5)), "ranks 5, --ntasks=5 --nodes=2 --ntasks-per-node=4");
}

}  // namespace
}  // namespace csweep::cluster
