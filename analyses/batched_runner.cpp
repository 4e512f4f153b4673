#include "analyses/batched_runner.h"

#include <algorithm>
#include <map>

#include "common/error.h"
#include "common/log.h"
#include "analyses/suffix_forward.h"
#include "model/layers.h"

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

struct Final {  // the last position's final residual of some rows, awaiting ln_final + W_U
  std::vector<int64_t> index;
  at::Tensor resid;  // [rows, 1, d]
};

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

// Rows [index] from block `layer` > 0, positions >= s > 0 only.
void run_suffix_chunk(const model::Model& model, const RunCache& target, const std::vector<RowEdits>& rows,
                      const std::vector<int64_t>& index, int64_t layer, int64_t s, std::vector<Final>& finals) {
  const int64_t b = static_cast<int64_t>(index.size());
  const int64_t seq = target.tokens.size(1);
  std::vector<RowEdits> edits;
  for (int64_t i : index) edits.push_back(shift_edits(with_base(target, rows[i], layer), s, seq));
  model::Hooks hooks;
  install_row_edits(hooks, edits);
  finals.push_back({index, suffix_forward(model, target, layer, s, b, &hooks)});
}

void run_chunk(const model::Model& model, const RunCache& target, const std::vector<RowEdits>& rows,
               const std::vector<int64_t>& index, int64_t layer, const Metric& metric, std::vector<float>& out,
               std::vector<Final>& finals) {
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
  // Rows that edit ln_final need its hooks: their logits come from the forward itself.
  if (hooks.active({model::HookPoint::LnFinalScale, -1}) || hooks.active({model::HookPoint::LnFinalNormalized, -1})) {
    at::Tensor values = metric(model.forward(tokens, &hooks, fo));
    auto acc = values.accessor<float, 1>();
    for (int64_t i = 0; i < b; ++i) out[index[i]] = acc[i];
    return;
  }
  fo.logits = model::ForwardOptions::Logits::None;
  at::Tensor resid = model.forward(tokens, &hooks, fo);
  finals.push_back({index, resid.narrow(1, resid.size(1) - 1, 1)});
}

// ln_final + unembedding of every row's last position in a few big GEMMs (one per micro-batch
// would run at a handful of rows each), then the metric.
void score_finals(const model::Model& model, const std::vector<Final>& finals, const Metric& metric,
                  std::vector<float>& out) {
  if (finals.empty()) return;
  const auto& c = model.config();
  const auto& w = model.weights();
  std::vector<at::Tensor> resids;
  std::vector<int64_t> index;
  for (const Final& f : finals) {
    resids.push_back(f.resid);
    index.insert(index.end(), f.index.begin(), f.index.end());
  }
  at::Tensor all = at::cat(resids, 0);  // [N, 1, d]
  const int64_t block = 512;
  for (int64_t begin = 0; begin < all.size(0); begin += block) {
    const int64_t n = std::min(block, all.size(0) - begin);
    at::Tensor x = model::norm(all.narrow(0, begin, n), w.ln_final_w, w.ln_final_b, c, nullptr,
                               model::HookPoint::LnFinalScale, model::HookPoint::LnFinalNormalized, -1);
    at::Tensor values = metric(at::linear(x, w.W_U, w.b_U));
    auto acc = values.accessor<float, 1>();
    for (int64_t i = 0; i < n; ++i) out[index[begin + i]] = acc[i];
  }
}

}  // namespace

std::vector<float> run_rows(const model::Model& model, const RunCache& target, const std::vector<RowEdits>& rows,
                            const Metric& metric, const BatchOptions& options) {
  at::NoGradGuard no_grad;
  std::vector<float> out(rows.size(), 0.0f);
  // Group rows by the block they can start from; order inside a group is kept.
  std::map<int64_t, std::vector<int64_t>> by_layer;  // block -> rows
  for (int64_t r = 0; r < static_cast<int64_t>(rows.size()); ++r) {
    int64_t layer = options.start_from_cache ? first_edited_layer(rows[r]) : 0;
    if (layer > 0 && !target.has({model::HookPoint::ResidPre, layer})) layer = 0;
    by_layer[layer].push_back(r);
  }
  const int64_t seq = target.tokens.size(1);
  const int64_t batch = micro_batch_size(model.config(), seq, model.dtype(), options);
  // Rows of suffix length m one forward may hold: the memory budget, and the token count of
  // max_batch full-length rows (more barely speeds up a GEMM).
  auto max_rows = [&](int64_t m) {
    const int64_t by_memory = options.memory_budget_bytes / std::max<int64_t>(1, bytes_per_row(model.config(), m, model.dtype()));
    const int64_t by_tokens = std::max<int64_t>(1, options.max_batch) * seq / m;
    return std::max<int64_t>(1, std::min(by_memory, by_tokens));
  };
  int64_t forwards = 0;
  std::vector<Final> finals;
  for (auto& [layer, index] : by_layer) {
    // Suffix start per row; rows with the shortest suffixes first, packed by a token budget.
    std::vector<int64_t> start(rows.size(), 0);
    const bool suffix = options.reuse_prefix && layer > 0;
    if (suffix) {
      for (int64_t r : index) start[r] = first_edited_position(with_base(target, rows[r], layer));
      std::stable_sort(index.begin(), index.end(), [&](int64_t a, int64_t b) { return start[a] > start[b]; });
    }
    // Pieces of rows with one suffix start (at most max_rows each), shortest suffixes first.
    struct Piece {
      size_t begin, end;
      int64_t s;
    };
    std::vector<Piece> pieces;
    for (size_t i = 0; i < index.size();) {
      size_t j = i;
      const int64_t s = start[index[i]];
      const size_t cap = static_cast<size_t>(max_rows(seq - s));
      while (j < index.size() && start[index[j]] == s && j - i < cap) ++j;
      pieces.push_back({i, j, s});
      i = j;
    }
    // Partition the pieces into forwards minimising sum(rows x suffix length + overhead):
    // a forward costs its token rows plus a fixed overhead (small GEMMs run under peak), and
    // merged pieces all recompute from the earliest start among them.
    const size_t k = pieces.size();
    const double overhead = static_cast<double>(options.forward_overhead_tokens);
    std::vector<double> best(k + 1, 0.0);
    std::vector<size_t> cut(k + 1, 0);
    for (size_t j = 1; j <= k; ++j) {
      best[j] = -1.0;
      const int64_t m = seq - pieces[j - 1].s;
      size_t n_rows = 0;
      for (size_t i = j; i >= 1; --i) {
        n_rows += pieces[i - 1].end - pieces[i - 1].begin;
        if (n_rows > static_cast<size_t>(max_rows(m))) break;
        const double cost = best[i - 1] + static_cast<double>(n_rows) * m + overhead;
        if (best[j] < 0 || cost < best[j]) {
          best[j] = cost;
          cut[j] = i - 1;
        }
      }
    }
    std::vector<std::pair<size_t, size_t>> chunks;  // [first piece, last piece + 1)
    for (size_t j = k; j > 0; j = cut[j]) chunks.emplace_back(cut[j], j);
    for (auto it = chunks.rbegin(); it != chunks.rend(); ++it) {
      const Piece& first = pieces[it->first];
      const Piece& last = pieces[it->second - 1];
      std::vector<int64_t> chunk(index.begin() + first.begin, index.begin() + last.end);
      if (suffix && last.s > 0) run_suffix_chunk(model, target, rows, chunk, layer, last.s, finals);
      else run_chunk(model, target, rows, chunk, layer, metric, out, finals);
      ++forwards;
    }
  }
  score_finals(model, finals, metric, out);
  log::get("analyses")->debug("ran {} rows in {} forwards ({} full-length rows each)", rows.size(), forwards, batch);
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
