#pragma once
// Where the ranks of one MPI world go in a Slurm allocation.
//
// CPU profiles (gpus_per_node 0): every rank is a task slot; ranks fill the nodes in order,
// tasks_per_node each.
// GPU profiles: rank 0 only coordinates and never touches a GPU (docs/tensor-parallel.md), so
// it must not take a GPU's task slot. The allocation holds the worker ranks only
// (tasks_per_node per node, one per GPU); rank 0 runs as an extra, CPU-only task on the first
// node. Worker ranks 1..N-1 then fill tasks_per_node per node in rank order, so a group of
// tasks_per_node consecutive workers (e.g. tensor_parallel 8 on 8-GPU nodes) is one node, and
// the k-th worker of a node takes GPU (N + k) mod its GPUs for `cuda:N` (worker/rank_device.h).
#include <string>

#include "cluster/profile.h"

namespace csweep::cluster {

struct RankPlacement {
  int ranks = 1;                   // ranks launched: the world size
  int tasks = 1;                   // task slots allocated (#SBATCH --ntasks)
  int nodes = 1;                   // #SBATCH --nodes
  int tasks_per_node = 1;          // #SBATCH --ntasks-per-node
  bool coordinator_extra = false;  // rank 0 runs beyond `tasks`, as an extra task on node 1

  // The node (0-based, in the allocation's node order) that runs `rank`.
  int node_of(int rank) const;
};

// The ranks `csweep submit` offers the plan: every task slot, plus rank 0 on a GPU profile.
int ranks_to_offer(const ClusterProfile& profile);
// The placement of a world of `ranks` ranks (<= ranks_to_offer) on `profile`.
RankPlacement place_ranks(const ClusterProfile& profile, int ranks);
// "node 1: ranks 0-8, node 2: ranks 9-16, ..." for the script header.
std::string describe_nodes(const RankPlacement& placement);

}  // namespace csweep::cluster
