#pragma once
// Position-suffix recomputation. Rows whose edits touch only positions >= s (and blocks >= L)
// leave positions < s exactly as in the target run at every block (attention is causal), so
// only the suffix [s, P) is recomputed; its attention reads the prefix keys/values from the
// target run's cache. The block mirrors model/forward.cpp (same pieces from model/layers.h,
// same hook order); tests hold it to the plain full forward on GPT-2, NeoX and Llama.
#include <cstdint>

#include <ATen/ATen.h>

#include "analyses/run_cache.h"
#include "model/hooks.h"
#include "model/model.h"

namespace csweep::analyses {

// The sites a RunCache needs for suffix_forward from any block: k (rotated k on rotary
// models) and v of every layer.
std::set<model::HookSite> prefix_kv_sites(const model::ModelConfig& config);

// The last position's final residual [batch, 1, d] (before ln_final) of `batch` rows that
// start from the target's resid_pre at `start_layer`, positions [suffix_start, P). Hooks see suffix-length activations (positions
// shifted by -suffix_start; pattern/score sites: [b, h, P - s, P]).
at::Tensor suffix_forward(const model::Model& model, const RunCache& target, int64_t start_layer,
                          int64_t suffix_start, int64_t batch, model::Hooks* hooks);

// The edits of a row re-expressed for a forward over positions [suffix_start, P): positions
// shifted, per-position values cut to the suffix. Every edited position must be >= suffix_start.
RowEdits shift_edits(const RowEdits& row, int64_t suffix_start, int64_t seq);
// The first position a row's edits touch (0 when an edit spans every position).
int64_t first_edited_position(const RowEdits& row);

}  // namespace csweep::analyses
