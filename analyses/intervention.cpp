#include "analyses/intervention.h"

#include <algorithm>
#include <map>
#include <memory>

#include "common/error.h"

namespace csweep::analyses {

namespace {

struct AxisLayout {
  int positions = -1, heads = -1, dims = -1;  // tensor dims of each slice axis (-1: none)
};

AxisLayout layout_of(model::HookPoint point, int64_t rank) {
  AxisLayout a;
  if (model::is_pattern_point(point)) {  // [b, h, q, k]
    a.heads = 1;
    a.positions = 2;
    a.dims = 3;
  } else if (model::is_head_point(point)) {  // [b, p, h, d_head]
    a.positions = 1;
    a.heads = 2;
    a.dims = 3;
  } else {  // [b, p, X]
    a.positions = 1;
    a.dims = static_cast<int>(rank) - 1;
  }
  return a;
}

// Restricts `mask` to `indices` along `dim` (negative indices count from the end).
at::Tensor restrict_axis(at::Tensor mask, int dim, const std::vector<int64_t>& indices,
                         const model::HookPoint point, const char* what) {
  if (indices.empty()) return mask;
  if (dim < 0) {
    throw Error(std::string("edit: ") + what + ": site " + model::point_suffix(point) + " has no " +
                what + " axis");
  }
  const int64_t n = mask.size(dim);
  at::Tensor axis = at::zeros({n}, mask.options());
  auto acc = axis.accessor<bool, 1>();
  for (int64_t i : indices) {
    const int64_t j = i < 0 ? i + n : i;
    if (j < 0 || j >= n) {
      throw Error(std::string("edit: ") + what + ": index " + std::to_string(i) +
                  " out of range [0, " + std::to_string(n) + ") at " + model::point_suffix(point));
    }
    acc[j] = true;
  }
  std::vector<int64_t> view(mask.dim(), 1);
  view[dim] = n;
  return mask.logical_and(axis.view(view));
}

}  // namespace

at::Tensor slice_mask(model::HookPoint point, at::IntArrayRef shape, const EditSlice& slice,
                      const at::TensorOptions& device) {
  std::vector<int64_t> row_shape(shape.begin(), shape.end());
  row_shape[0] = 1;
  // Built on the CPU (tiny), moved once.
  at::Tensor mask = at::ones(row_shape, at::TensorOptions().dtype(at::kBool));
  const AxisLayout a = layout_of(point, static_cast<int64_t>(row_shape.size()));
  mask = restrict_axis(mask, a.positions, slice.positions, point, "positions");
  mask = restrict_axis(mask, a.heads, slice.heads, point, "heads");
  mask = restrict_axis(mask, a.dims, slice.dims, point, "dims");
  return mask.to(device.device());
}

int64_t first_edited_layer(const RowEdits& edits) {
  int64_t first = -1;
  for (const Edit& e : edits) {
    const int64_t l = model::is_block_point(e.site.point) ? e.site.layer : 0;
    first = first < 0 ? l : std::min(first, l);
  }
  return first < 0 ? 0 : first;
}

namespace {

// Applies the edits of every row at one site. Masks and values are built on the first call
// (the activation's shape is known only then) and reused if the same hook runs again.
class SiteEditor {
 public:
  SiteEditor(model::HookSite site, int64_t n_rows) : site_(site), per_row_(n_rows) {}
  void add(int64_t row, const Edit& edit) { per_row_[row].push_back(edit); }

  void operator()(at::Tensor& act) {
    if (act.size(0) != static_cast<int64_t>(per_row_.size())) {
      throw Error("edit: " + site_.name() + ": batch has " + std::to_string(act.size(0)) +
                  " rows, edits for " + std::to_string(per_row_.size()));
    }
    if (!mask_.defined() || mask_.sizes() != act.sizes()) build(act);
    act = at::where(mask_, value_, act);
  }

 private:
  void build(const at::Tensor& act) {
    const auto opts = act.options();
    std::vector<at::Tensor> masks, values;
    const at::Tensor* shared = nullptr;  // every edit uses the same value tensor
    bool all_shared = true;
    for (const auto& edits : per_row_) {
      for (const Edit& e : edits) {
        if (!shared)
          shared = &e.value;
        else if (!e.value.is_same(*shared))
          all_shared = false;
      }
    }
    std::vector<int64_t> row_shape(act.sizes().begin(), act.sizes().end());
    row_shape[0] = 1;
    for (const auto& edits : per_row_) {
      at::Tensor m = at::zeros(row_shape, opts.dtype(at::kBool));
      at::Tensor v;
      if (!all_shared) v = at::zeros(row_shape, opts);
      for (const Edit& e : edits) {
        at::Tensor em = slice_mask(site_.point, act.sizes(), e.slice, opts);
        m = m.logical_or(em);
        if (!all_shared)
          v = at::where(em, e.value.to(opts.device(), opts.dtype()).expand(row_shape), v);
      }
      masks.push_back(m);
      if (!all_shared) values.push_back(v);
    }
    mask_ = at::cat(masks, 0);
    value_ =
        all_shared ? shared->to(opts.device(), opts.dtype()).expand(row_shape) : at::cat(values, 0);
  }

  model::HookSite site_;
  std::vector<RowEdits> per_row_;  // copies: tensors are shared, the caller's rows may go away
  at::Tensor mask_, value_;
};

}  // namespace

void install_row_edits(model::Hooks& hooks, const std::vector<RowEdits>& rows) {
  std::map<model::HookSite, std::shared_ptr<SiteEditor>> editors;
  const int64_t n = static_cast<int64_t>(rows.size());
  for (int64_t r = 0; r < n; ++r) {
    for (const Edit& e : rows[r]) {
      auto& ed = editors[e.site];
      if (!ed) ed = std::make_shared<SiteEditor>(e.site, n);
      ed->add(r, e);
    }
  }
  for (auto& [site, ed] : editors) {
    hooks.add(site, [ed](at::Tensor& act, const model::HookSite&) { (*ed)(act); });
  }
}

}  // namespace csweep::analyses
