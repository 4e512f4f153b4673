#include "analyses/batched_runner.h"

#include <ATen/core/grad_mode.h>
#include <algorithm>
#include <deque>
#include <map>
#include <tuple>

#include "common/error.h"
#include "common/log.h"
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

using model::HookPoint;

// A row's edits plus the edits that define the target run (its `base`: causal tracing's
// noise) that a forward must apply itself: all of them from the tokens; resuming at block
// `layer`, only those in blocks >= layer — the cache already holds the others' effect.
RowEdits with_base(const RunCache& target, const RowEdits& row) {
  RowEdits out = target.base;
  out.insert(out.end(), row.begin(), row.end());
  return out;
}
RowEdits with_base(const RunCache& target, const RowEdits& row, int64_t layer) {
  RowEdits out;
  for (const Edit& e : target.base) {
    if (model::is_block_point(e.site.point) && e.site.layer >= layer) out.push_back(e);
  }
  out.insert(out.end(), row.begin(), row.end());
  return out;
}

// Where a row resumes the target run: block, first position, and the end of the positions its
// start block recomputes when it enters that block after attention (0: the whole block).
struct Start {
  int64_t layer = 0, first = 0, attn_end = 0;
  bool operator<(const Start& o) const {
    return std::tie(layer, first, attn_end) < std::tie(o.layer, o.first, o.attn_end);
  }
};

// The first position any edit touches, or 0 when one spans every position.
int64_t first_edited_position(const RowEdits& edits) {
  int64_t first = -1;
  for (const Edit& e : edits) {
    if (e.slice.positions.empty()) return 0;
    for (int64_t p : e.slice.positions) {
      if (p < 0) return 0;
      first = first < 0 ? p : std::min(first, p);
    }
  }
  return first < 0 ? 0 : first;
}

Start start_of(const RowEdits& edits, int64_t layer, bool reuse_prefix) {
  Start s;
  s.layer = layer;
  if (!reuse_prefix || edits.empty()) return s;
  s.first = first_edited_position(edits);
  // The start block runs from hook_z on when every edit in it comes after attention, at
  // explicit positions: nothing before hook_z changes there, and no other position does.
  int64_t end = 0;
  for (const Edit& e : edits) {
    if (e.site.layer != layer) continue;
    if (!model::is_after_attention_point(e.site.point) || e.slice.positions.empty()) return s;
    for (int64_t p : e.slice.positions) {
      if (p < 0) return s;
      end = std::max(end, p + 1);
    }
  }
  s.attn_end = end;
  return s;
}

// A row's edits as the resumed forward sees them: positions shifted by -first, per-position
// values cut to the positions recomputed at that block.
RowEdits shift_edits(const RowEdits& row, const Start& start, int64_t seq) {
  if (start.first == 0 && start.attn_end == 0)
    return row;  // whole blocks, every position: as given
  RowEdits out;
  for (const Edit& e : row) {
    const int64_t end = start.attn_end > 0 && e.site.layer == start.layer ? start.attn_end : seq;
    Edit shifted = e;
    for (int64_t& p : shifted.slice.positions) {
      if (p < start.first || p >= end)
        throw Error("fast path: edit of " + e.site.name() + " at position " + std::to_string(p) +
                    " outside [" + std::to_string(start.first) + ", " + std::to_string(end) + ")");
      p -= start.first;
    }
    // The position axis of the value: values broadcast against one row of the activation
    // ([1, P, ...], heads [1, P, h, d], pattern [1, h, P(query), P]), so count from the right.
    const bool four_d = model::is_head_point(e.site.point);
    const int64_t axis =
        (model::is_pattern_point(e.site.point) ? 2 : 1) - ((four_d ? 4 : 3) - e.value.dim());
    if (axis >= 0 && e.value.size(axis) == seq)
      shifted.value = e.value.narrow(axis, start.first, end - start.first);
    out.push_back(std::move(shifted));
  }
  return out;
}

// Negative positions (from the end) as plain ones, so that a row's first position is known.
std::vector<RowEdits> with_plain_positions(const std::vector<RowEdits>& rows, int64_t seq) {
  std::vector<RowEdits> out = rows;
  for (RowEdits& row : out) {
    for (Edit& e : row) {
      for (int64_t& p : e.slice.positions) {
        if (p < 0 && p >= -seq) p += seq;
      }
    }
  }
  return out;
}

bool all_in_blocks(const RowEdits& edits) {
  for (const Edit& e : edits) {
    if (!model::is_block_point(e.site.point)) return false;
  }
  return true;
}

struct Final {  // the last position's final residual of some rows, awaiting ln_final + W_U
  std::vector<int64_t> index;
  at::Tensor resid;  // [rows, 1, d]
};

// One call of model.resume: groups of rows with equal starts, each with its own hooks.
struct ResumeCall {
  std::vector<model::ResumeGroup> groups;
  std::vector<std::vector<int64_t>> rows;  // per group, the row indices
  int64_t tokens = 0;
};

// `resumed[r]`: row r's edits as its resumed forward sees them (shift_edits of with_base).
void run_resume_call(const model::Model& model, const RunCache& target,
                     const std::vector<RowEdits>& resumed, ResumeCall& call,
                     std::vector<Final>& finals) {
  std::deque<model::Hooks> hooks;
  Final f;
  for (size_t g = 0; g < call.groups.size(); ++g) {
    std::vector<RowEdits> edits;
    for (int64_t r : call.rows[g]) {
      edits.push_back(resumed[r]);
      f.index.push_back(r);
    }
    hooks.emplace_back();
    install_row_edits(hooks.back(), edits);
    call.groups[g].hooks = &hooks.back();
  }
  f.resid = model.resume(target.acts, call.groups);
  finals.push_back(std::move(f));
}

// Rows that must run from the tokens (edits of the embeddings or ln_final, or no usable cache):
// full forwards of at most `batch` rows.
void run_from_tokens(const model::Model& model, const RunCache& target,
                     const std::vector<RowEdits>& rows, const std::vector<int64_t>& index,
                     int64_t batch, const Metric& metric, std::vector<float>& out,
                     std::vector<Final>& finals) {
  for (size_t begin = 0; begin < index.size(); begin += static_cast<size_t>(batch)) {
    const size_t end = std::min(index.size(), begin + static_cast<size_t>(batch));
    std::vector<int64_t> chunk(index.begin() + begin, index.begin() + end);
    const int64_t b = static_cast<int64_t>(chunk.size());
    std::vector<RowEdits> edits;
    for (int64_t r : chunk) edits.push_back(with_base(target, rows[r]));
    model::Hooks hooks;
    install_row_edits(hooks, edits);
    model::ForwardOptions fo;
    at::Tensor tokens = target.tokens.expand({b, target.tokens.size(1)});
    // Rows that edit ln_final need its hooks: their logits come from the forward itself.
    if (hooks.active({HookPoint::LnFinalScale, -1}) ||
        hooks.active({HookPoint::LnFinalNormalized, -1})) {
      fo.logits = model::ForwardOptions::Logits::Last;
      at::Tensor values = metric(model.forward(tokens, &hooks, fo));
      auto acc = values.accessor<float, 1>();
      for (int64_t i = 0; i < b; ++i) out[chunk[i]] = acc[i];
      continue;
    }
    fo.logits = model::ForwardOptions::Logits::None;
    at::Tensor resid = model.forward(tokens, &hooks, fo);
    finals.push_back({chunk, resid.narrow(1, resid.size(1) - 1, 1)});
  }
}

// ln_final + unembedding of every row's last position in a few big GEMMs, then the metric.
// A metric that reads a few logits (logit_diff) gets only those columns of W_U.
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
  at::Tensor W_U = w.W_U, b_U = w.b_U;
  Metric scored = metric;
  const std::vector<int64_t> columns = metric.columns();
  if (!columns.empty()) {
    for (int64_t id : columns) {
      if (id < 0 || id >= c.d_vocab)
        throw Error("metric: token id " + std::to_string(id) + " outside the vocabulary [0, " +
                    std::to_string(c.d_vocab) + ")");
    }
    at::Tensor ids = at::tensor(columns, at::TensorOptions().dtype(at::kLong)).to(W_U.device());
    W_U = W_U.index_select(0, ids);
    if (b_U.defined()) b_U = b_U.index_select(0, ids);
    scored = metric.restricted();
  }
  at::Tensor all = at::cat(resids, 0);  // [N, 1, d]
  const int64_t block = 512;
  for (int64_t begin = 0; begin < all.size(0); begin += block) {
    const int64_t n = std::min(block, all.size(0) - begin);
    at::Tensor x =
        model::norm(all.narrow(0, begin, n), w.ln_final_w, w.ln_final_b, c, nullptr,
                    model::HookPoint::LnFinalScale, model::HookPoint::LnFinalNormalized, -1);
    at::Tensor values = scored(model::softcap_logits(at::linear(x, W_U, b_U), c));
    auto acc = values.accessor<float, 1>();
    for (int64_t i = 0; i < n; ++i) out[index[begin + i]] = acc[i];
  }
}

bool has_resume_sites(const model::Model& model, const RunCache& target) {
  for (const auto& s : model::resume_sites(model.config())) {
    if (!target.has(s)) return false;
  }
  return true;
}

}  // namespace

std::vector<float> run_rows(const model::Model& model, const RunCache& target,
                            const std::vector<RowEdits>& given, const Metric& metric,
                            const BatchOptions& options) {
  at::NoGradGuard no_grad;
  std::vector<float> out(given.size(), 0.0f);
  const int64_t seq = target.tokens.size(1);
  const std::vector<RowEdits> rows = with_plain_positions(given, seq);
  const bool resumable = options.start_from_cache && has_resume_sites(model, target);
  // Where each row resumes (rows with the same start form one group), and its edits as that
  // resumed forward sees them.
  std::vector<RowEdits> resumed(rows.size());
  std::map<Start, std::vector<int64_t>> groups;
  std::vector<int64_t> from_tokens;
  for (size_t r = 0; r < rows.size(); ++r) {
    if (!resumable || !all_in_blocks(rows[r])) {
      from_tokens.push_back(static_cast<int64_t>(r));
      continue;
    }
    const int64_t layer = first_edited_layer(rows[r]);
    const RowEdits edits = with_base(target, rows[r], layer);
    const Start start = start_of(edits, layer, options.reuse_prefix);
    resumed[r] = shift_edits(edits, start, seq);
    groups[start].push_back(static_cast<int64_t>(r));
  }
  // Calls of at most `budget` token rows (the memory budget, and max_batch full-length rows),
  // groups in (block, position) order so that a call's groups share most blocks.
  const int64_t per_token =
      std::max<int64_t>(1, bytes_per_row(model.config(), seq, model.dtype()) / seq);
  const int64_t budget =
      std::max<int64_t>(seq, std::min(options.memory_budget_bytes / per_token,
                                      std::max<int64_t>(1, options.max_batch) * seq));
  std::vector<Final> finals;
  ResumeCall call;
  int64_t calls = 0;
  auto flush = [&] {
    if (call.groups.empty()) return;
    run_resume_call(model, target, resumed, call, finals);
    call = ResumeCall{};
    ++calls;
  };
  for (const auto& [start, members] : groups) {
    const int64_t per_row = seq - start.first;
    for (size_t i = 0; i < members.size();) {
      if (call.tokens + per_row > budget) flush();
      const int64_t fit = std::max<int64_t>(1, (budget - call.tokens) / per_row);
      const size_t n = std::min(members.size() - i, static_cast<size_t>(fit));
      model::ResumeGroup g;
      g.rows = static_cast<int64_t>(n);
      g.start_layer = start.layer;
      g.first_pos = start.first;
      g.attn_end = start.attn_end;
      call.groups.push_back(g);
      call.rows.emplace_back(members.begin() + i, members.begin() + i + n);
      call.tokens += g.rows * per_row;
      i += n;
    }
  }
  flush();
  run_from_tokens(model, target, rows, from_tokens, std::max<int64_t>(1, budget / seq), metric, out,
                  finals);
  score_finals(model, finals, metric, out);
  log::get("analyses")
      ->debug("ran {} rows: {} groups in {} resumed calls, {} from the tokens", rows.size(),
              groups.size(), calls, from_tokens.size());
  return out;
}

std::vector<float> run_rows_plain(const model::Model& model, const RunCache& target,
                                  const std::vector<RowEdits>& rows, const Metric& metric) {
  at::NoGradGuard no_grad;
  std::vector<float> out;
  out.reserve(rows.size());
  for (const RowEdits& row : rows) {
    std::vector<RowEdits> one{with_base(target, row)};
    model::Hooks hooks;
    install_row_edits(hooks, one);
    at::Tensor logits = model.forward(target.tokens, &hooks);
    out.push_back(metric(logits)[0].item<float>());
  }
  return out;
}

}  // namespace csweep::analyses
