#include "sharding/grid.h"

#include <algorithm>

namespace csweep::sharding {

int64_t AnalysisGrid::cells() const {
  int64_t n = 1;
  for (const auto& a : axes) n *= a.size;
  return n;
}

int AnalysisGrid::layer_axis_index() const {
  for (size_t i = 0; i < axes.size(); ++i)
    if (axes[i].name == "layer") return static_cast<int>(i);
  return -1;
}

int64_t AnalysisGrid::start_layer(int64_t cell) const {
  if (!cost.per_cell_forward) return 0;
  int li = layer_axis_index();
  if (li < 0) return 0;
  int64_t stride = 1;
  for (size_t i = li + 1; i < axes.size(); ++i) stride *= axes[i].size;
  int64_t layer = axes[li].values[(cell / stride) % axes[li].size];
  return std::max<int64_t>(0, layer - cost.start_layer_back);
}

AnalysisGrid make_grid(const jobs::AnalysisSpec& a, uint32_t index,
                       const model::ModelConfig& config) {
  AnalysisGrid g;
  g.analysis = index;
  g.name = a.name;
  g.kind = a.kind;
  g.axes = a.kind->grid(a);
  if (a.stage && !a.stage->ranked_list) {  // which cells: known once the source is done
    std::vector<int64_t> candidates(static_cast<size_t>(a.stage->cells));
    for (size_t i = 0; i < candidates.size(); ++i) candidates[i] = static_cast<int64_t>(i);
    g.axes = {jobs::index_axis("candidate", candidates)};
  }
  g.cost = a.kind->cost(a, config);
  return g;
}

}  // namespace csweep::sharding
