#pragma once
// Internal to analyses/: how each analysis kind turns a range of grid cells into numbers.
// sweep.cpp validates and dispatches by request.kind; the kinds register their cells from their
// own files.
#include <cstdint>
#include <string>
#include <vector>

#include "analyses/sweep.h"

namespace csweep::analyses::detail {

// The grid coordinates of one cell (-1 where the grid has no such axis).
struct Cell {
  int64_t layer = -1, pos = -1, head = -1, neuron = -1, quantity = -1, score = -1, feature = -1,
          receiver = -1;
};
std::vector<Cell> decode_cells(const std::vector<GridAxis>& axes, int64_t begin, int64_t end);

struct CellRange {
  const model::Model& model;
  const SweepRequest& request;
  const std::vector<GridAxis>& axes;
  int64_t begin, end;
  CacheStore& caches;
};

// The registry's names (jobs/kinds/) of the kinds whose requests sweep.cpp checks.
inline constexpr char kPatching[] = "activation_patching";
inline constexpr char kAblation[] = "ablation";
inline constexpr char kCausalTracing[] = "causal_tracing";
inline constexpr char kLogitLens[] = "logit_lens";
inline constexpr char kDirectLogitAttribution[] = "direct_logit_attribution";
inline constexpr char kAttentionScores[] = "attention_scores";
inline constexpr char kAttributionPatching[] = "attribution_patching";
bool is_known_kind(const std::string& kind);  // one of the seven above

// A kind's cells written over a CellRange, as the KindCells it registers:
//   const KindCellsRegistration r(kPatching, over_range<patching_cells>);
template <std::vector<float> (*Cells)(const CellRange&)>
std::vector<float> over_range(const model::Model& model, const SweepRequest& request,
                              const std::vector<GridAxis>& axes, int64_t begin, int64_t end,
                              CacheStore& caches) {
  return Cells(CellRange{model, request, axes, begin, end, caches});
}

// The clean and corrupted (noised for causal tracing) runs' metrics (intervention_cells.cpp).
Baselines intervention_baselines(const model::Model& model, const SweepRequest& request,
                                 CacheStore& caches);

// The metric of a request (KL against the clean run's logits).
Metric request_metric(const SweepRequest& request, const RunCache& clean);
// The normalised positions of a request (negative ones counted from the end), or all.
std::vector<int64_t> resolve_positions(const std::vector<int64_t>& positions, int64_t seq);

}  // namespace csweep::analyses::detail
