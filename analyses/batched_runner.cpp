#include "analyses/batched_runner.h"

#include <algorithm>
#include <map>

#include "common/error.h"
#include "common/log.h"

namespace csweep::analyses {

int64_t bytes_per_row(const model::ModelConfig& c, int64_t seq, c10::ScalarType dtype) {
  const int64_t elem = static_cast<int64_t>(c10::elementSize(dtype));
  // The live tensors of one block at its peak (residual copies, q/k/v/z, scores and pattern,
  // the MLP's hidden layers), the edit masks/values, and the fp32 last-position logits.
  const int64_t mlp = (c.gated_mlp ? 4 : 3) * c.d_mlp;
  const int64_t per_pos = 8 * c.d_model + 3 * c.d_q() + 2 * c.d_kv() + mlp + 3 * c.n_heads * seq;
  return 2 * seq * per_pos * elem + 2 * c.d_vocab * 4;
}

int64_t micro_batch_size(const model::ModelConfig& config, int64_t seq, c10::ScalarType dtype,
                         const BatchOptions& options) {
  const int64_t per_row = std::max<int64_t>(1, bytes_per_row(config, seq, dtype));
  int64_t b = options.memory_budget_bytes / per_row;
  b = std::min(b, std::max<int64_t>(1, options.max_batch));
  return std::max<int64_t>(1, b);
}

namespace {

// Rows that start at block `layer`: the base edits the cached residual does not already contain
// (those at blocks >= layer; all of them from the embeddings) plus the row's own.
RowEdits with_base(const RunCache& target, const RowEdits& row, int64_t layer) {
  RowEdits out;
  for (const Edit& e : target.base) {
    const bool in_block = model::is_block_point(e.site.point);
    if (layer == 0 || (in_block && e.site.layer >= layer)) out.push_back(e);
  }
  out.insert(out.end(), row.begin(), row.end());
  return out;
}

void run_chunk(const model::Model& model, const RunCache& target, const std::vector<RowEdits>& rows,
               const std::vector<int64_t>& index, int64_t layer, const Metric& metric, std::vector<float>& out) {
  const int64_t b = static_cast<int64_t>(index.size());
  const model::HookSite start_site{model::HookPoint::ResidPre, layer};
  std::vector<RowEdits> edits(b), start_edits(b);
  for (int64_t i = 0; i < b; ++i) {
    for (const Edit& e : with_base(target, rows[index[i]], layer)) {
      // Edits of the starting residual are applied to start_resid here, not by the forward.
      if (layer > 0 && e.site == start_site) start_edits[i].push_back(e);
      else edits[i].push_back(e);
    }
  }
  model::Hooks hooks;
  install_row_edits(hooks, edits);
  model::ForwardOptions fo;
  fo.logits = model::ForwardOptions::Logits::Last;
  at::Tensor tokens = target.tokens.expand({b, target.tokens.size(1)});
  if (layer > 0) {
    const at::Tensor& resid = target.at_site(start_site);
    at::Tensor start = resid.expand({b, resid.size(1), resid.size(2)}).contiguous();
    model::Hooks pre;
    install_row_edits(pre, start_edits);
    if (pre.active(start_site)) pre.run(start_site, start);
    fo.start_layer = layer;
    fo.start_resid = start;
  }
  at::Tensor logits = model.forward(tokens, &hooks, fo);
  at::Tensor values = metric(logits);
  auto acc = values.accessor<float, 1>();
  for (int64_t i = 0; i < b; ++i) out[index[i]] = acc[i];
}

}  // namespace

std::vector<float> run_rows(const model::Model& model, const RunCache& target, const std::vector<RowEdits>& rows,
                            const Metric& metric, const BatchOptions& options) {
  at::NoGradGuard no_grad;
  std::vector<float> out(rows.size(), 0.0f);
  // Group rows by the block they can start from; order inside a group is kept.
  std::map<int64_t, std::vector<int64_t>> by_layer;
  for (int64_t r = 0; r < static_cast<int64_t>(rows.size()); ++r) {
    int64_t layer = options.start_from_cache ? first_edited_layer(rows[r]) : 0;
    if (layer > 0 && !target.has({model::HookPoint::ResidPre, layer})) layer = 0;
    by_layer[layer].push_back(r);
  }
  const int64_t seq = target.tokens.size(1);
  const int64_t batch = micro_batch_size(model.config(), seq, model.dtype(), options);
  for (const auto& [layer, index] : by_layer) {
    for (size_t begin = 0; begin < index.size(); begin += batch) {
      const size_t end = std::min(index.size(), begin + static_cast<size_t>(batch));
      std::vector<int64_t> chunk(index.begin() + begin, index.begin() + end);
      run_chunk(model, target, rows, chunk, layer, metric, out);
    }
  }
  log::get("analyses")->debug("ran {} rows in micro-batches of {}", rows.size(), batch);
  return out;
}

std::vector<float> run_rows_plain(const model::Model& model, const RunCache& target,
                                  const std::vector<RowEdits>& rows, const Metric& metric) {
  at::NoGradGuard no_grad;
  std::vector<float> out;
  out.reserve(rows.size());
  for (const RowEdits& row : rows) {
    std::vector<RowEdits> one{with_base(target, row, 0)};
    model::Hooks hooks;
    install_row_edits(hooks, one);
    at::Tensor logits = model.forward(target.tokens, &hooks);
    out.push_back(metric(logits)[0].item<float>());
  }
  return out;
}

}  // namespace csweep::analyses
