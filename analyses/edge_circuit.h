#pragma once
// Circuits of edges (circuit_faithfulness with universe edges): each cell is the metric of the
// clean run in which every edge outside the circuit carries its ablated sender (MIB's and ACDC's
// edge ablation). Computed in analyses/edge_attribution_cells.cpp beside the edge graph it shares
// with EAP; circuit_faithfulness_cells.cpp hands its edge requests here.
#include <vector>

#include "analyses/cells.h"

namespace csweep::analyses::detail {

std::vector<float> edge_circuit_cells(const CellRange& range);

}  // namespace csweep::analyses::detail
