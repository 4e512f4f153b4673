#pragma once
// The fast path. Each row (one patch) resumes the target run where its edits begin: from the
// cached residual at its first edited block (earlier blocks are never recomputed), only at
// positions from its first edited one on (earlier positions' keys/values come from the cache),
// and — when its edits in that block all come after attention — that block only from the
// cached hook_z on and only at the edited positions. Rows with equal starts share hooks as one
// group, and all groups of a call run together through model::Model::resume: every
// projection and MLP of a block is one GEMM over all their token rows, and the last block
// computes only the last position. Only the last position's logits are computed, in a few big
// GEMMs. Calls are bounded by the memory budget. run_rows_plain is the reference it is tested
// against: one full forward per row, full logits, exactly what TransformerLens does.
#include <cstdint>
#include <vector>

#include <ATen/ATen.h>

#include "analyses/intervention.h"
#include "analyses/metrics.h"
#include "analyses/run_cache.h"
#include "model/model.h"

namespace csweep::analyses {

struct BatchOptions {
  int64_t memory_budget_bytes = int64_t(2) << 30;  // bounds one call's activations
  // Token rows of one call at most, in full-length rows: bigger calls make bigger GEMMs (on a
  // 2-core CPU a [rows, 768] x [768, 3072] GEMM reaches ~55% of peak at 192 rows, ~85% at 1024).
  int64_t max_batch = 512;
  bool start_from_cache = true;  // resume from the cached residual (false: from the embeddings)
  bool reuse_prefix =
      true;  // recompute only positions >= the first edited one (and enter a block after attention)
  bool plain = false;  // the reference instead: one full forward per cell (run_rows_plain)
};

// Full-length rows per call so that one call's peak activation memory stays within the budget.
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
