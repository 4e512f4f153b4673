#pragma once
// Batched interventions: each batch row of one forward carries its own edits, so a sweep
// runs many patches per forward. An Edit overwrites a slice of the activation at one hook
// site with the same slice of a value tensor (a cached activation of the source run, zeros,
// a mean, a resampled activation, ...).
#include <cstdint>
#include <vector>

#include <ATen/ATen.h>

#include "model/hook_site.h"
#include "model/hooks.h"

namespace csweep::analyses {

// Which part of an activation an edit touches; an empty list means the whole axis.
// positions: the sequence axis (pattern/scores sites: the query axis); heads: the head axis of
// head sites; dims: the last axis (neurons of mlp.hook_pre/post, coordinates of resid sites).
struct EditSlice {
  std::vector<int64_t> positions, heads, dims;
};

struct Edit {
  model::HookSite site;
  EditSlice slice;
  // Same shape as the activation with batch 1 (e.g. a cache entry [1, p, h, d_head]), or any
  // shape that broadcasts to one row of it (e.g. a [d_head] mean broadcast over positions).
  at::Tensor value;
};

// One batch row's edits (usually one; several for a window of layers or a set of sites).
using RowEdits = std::vector<Edit>;

// Boolean mask [1, ...] of one row's slice for an activation of shape `shape` at `point`.
at::Tensor slice_mask(model::HookPoint point, at::IntArrayRef shape, const EditSlice& slice,
                      const at::TensorOptions& device);

// Installs one hook per edited site; row r of the forward's batch gets rows[r]'s edits.
// Rows without an edit at a site are left untouched.
void install_row_edits(model::Hooks& hooks, const std::vector<RowEdits>& rows);

// The smallest block index any edit touches (0 for sites outside the blocks): a batched run
// can start from the cached residual stream there.
int64_t first_edited_layer(const RowEdits& edits);

}  // namespace csweep::analyses
