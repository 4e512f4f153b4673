#pragma once
// The fast path. Rows (one patch each) that start at the same block run together as one
// micro-batch: the forward starts from the target run's cached resid_pre at that block
// (earlier blocks are never recomputed), recomputes only the positions from the first edited
// one on (earlier positions read their keys/values from the cache, see suffix_forward.h),
// computes only the last position's logits, and each batch row carries its own edits.
// Micro-batches are bounded by the memory budget and max_batch full-length rows' tokens; how
// rows are split into forwards is chosen to minimise token rows + a per-forward overhead. run_rows_plain is the reference it is tested against:
// one full forward per row, full logits, exactly what TransformerLens does.
#include <cstdint>
#include <vector>

#include <ATen/ATen.h>

#include "analyses/intervention.h"
#include "analyses/metrics.h"
#include "analyses/run_cache.h"
#include "model/model.h"

namespace csweep::analyses {

struct BatchOptions {
  int64_t memory_budget_bytes = int64_t(2) << 30;  // bounds one micro-batch's activations
  int64_t max_batch = 128;                          // more rows barely speed up a CPU GEMM
  bool start_from_cache = true;                     // suffix recomputation (false: from the embeddings)
  bool reuse_prefix = true;  // recompute only positions >= the first edited one (cached prefix K/V)
  // The fixed cost of one forward in token rows: small GEMMs run far under peak (2-core CPU,
  // d=768: 55% of peak at 192 rows, 83% at 768) and every forward pays its elementwise ops, so
  // rows with different suffix starts share a forward when that is cheaper overall (600: best
  // measured on the GPT-2-small bench). 0: one forward per suffix start.
  int64_t forward_overhead_tokens = 600;
};

// Rows per micro-batch so that one forward's peak activation memory stays within the budget.
int64_t micro_batch_size(const model::ModelConfig& config, int64_t seq, c10::ScalarType dtype,
                         const BatchOptions& options);
// Estimated peak bytes of one batch row's forward (what micro_batch_size divides the budget by).
int64_t bytes_per_row(const model::ModelConfig& config, int64_t seq, c10::ScalarType dtype);

// The metric of the target run with each row's edits applied; one float per row, in order.
std::vector<float> run_rows(const model::Model& model, const RunCache& target,
                            const std::vector<RowEdits>& rows, const Metric& metric,
                            const BatchOptions& options = {});

// Reference: one full forward (from the tokens, all logits) per row.
std::vector<float> run_rows_plain(const model::Model& model, const RunCache& target,
                                  const std::vector<RowEdits>& rows, const Metric& metric);

}  // namespace csweep::analyses
