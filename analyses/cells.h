#pragma once
// Internal to analyses/: how each analysis kind turns a range of grid cells into numbers.
// sweep.cpp validates and dispatches; the kinds live in their own files.
#include <cstdint>
#include <vector>

#include "analyses/sweep.h"

namespace csweep::analyses::detail {

// The grid coordinates of one cell (-1 where the grid has no such axis).
struct Cell {
  int64_t layer = -1, pos = -1, head = -1, neuron = -1, quantity = -1, score = -1;
};
std::vector<Cell> decode_cells(const std::vector<GridAxis>& axes, int64_t begin, int64_t end);

struct CellRange {
  const model::Model& model;
  const SweepRequest& request;
  const std::vector<GridAxis>& axes;
  int64_t begin, end;
  CacheStore& caches;
  bool plain;  // one full forward per cell (reference) instead of the fast path
};

// Activation patching, ablation, causal tracing (intervention_cells.cpp).
std::vector<float> patching_cells(const CellRange& range);
std::vector<float> ablation_cells(const CellRange& range);
std::vector<float> causal_tracing_cells(const CellRange& range);
Baselines intervention_baselines(const model::Model& model, const SweepRequest& request,
                                 CacheStore& caches);

// Read-outs of the clean run's cache (readout_cells.cpp).
std::vector<float> logit_lens_cells(const CellRange& range);
std::vector<float> dla_cells(const CellRange& range);
std::vector<float> attention_score_cells(const CellRange& range);

// Attribution patching (attribution_cells.cpp).
std::vector<float> attribution_cells(const CellRange& range);

// The metric of a request (KL against the clean run's logits).
Metric request_metric(const SweepRequest& request, const RunCache& clean);
// The normalised positions of a request (negative ones counted from the end), or all.
std::vector<int64_t> resolve_positions(const std::vector<int64_t>& positions, int64_t seq);

}  // namespace csweep::analyses::detail
