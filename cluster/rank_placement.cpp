#include "cluster/rank_placement.h"

#include <algorithm>

namespace csweep::cluster {

int RankPlacement::node_of(int rank) const {
  if (!coordinator_extra) return rank / tasks_per_node;
  return rank == 0 ? 0 : (rank - 1) / tasks_per_node;
}

int ranks_to_offer(const ClusterProfile& profile) {
  return profile.total_tasks() + (profile.gpus_per_node > 0 ? 1 : 0);
}

RankPlacement place_ranks(const ClusterProfile& profile, int ranks) {
  RankPlacement p;
  p.ranks = ranks;
  // A one-rank world computes in rank 0 itself (on the GPU): no coordinator to set aside.
  p.coordinator_extra = profile.gpus_per_node > 0 && ranks > 1;
  p.tasks = p.coordinator_extra ? ranks - 1 : ranks;
  p.tasks_per_node = std::min(profile.tasks_per_node, p.tasks);
  p.nodes = (p.tasks + profile.tasks_per_node - 1) / profile.tasks_per_node;
  return p;
}

std::string describe_nodes(const RankPlacement& placement) {
  std::string out;
  int first = 0;
  for (int node = 0; node < placement.nodes; ++node) {
    int last = first;
    while (last + 1 < placement.ranks && placement.node_of(last + 1) == node) ++last;
    if (!out.empty()) out += ", ";
    out += "node ";
    out += std::to_string(node + 1);
    out += first == last ? ": rank " : ": ranks ";
    out += std::to_string(first);
    if (last != first) {
      out += "-";
      out += std::to_string(last);
    }
    first = last + 1;
  }
  return out;
}

}  // namespace csweep::cluster
