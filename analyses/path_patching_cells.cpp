// Path patching (Wang et al. 2022; the TransformerLens/ARENA recipe), one cell per sender:
//   run 1: the clean and corrupted runs, cached;
//   run 2: the clean prompt with the sender's output (attn.hook_z of one head, or hook_mlp_out)
//          set to its corrupted value and every other head's hook_z frozen at the clean run
//          (with freeze_mlps, every other hook_mlp_out too; else MLPs are recomputed), caching
//          the receivers' inputs (attn.hook_q/k/v);
//   run 3: the clean run with only the receivers' inputs (their head's slice, every position)
//          patched from run 2; its metric is the cell.
// With the logits as the receiver, run 3 is run 2 (the final residual stream patched into the
// clean run gives run 2's logits), so the cell is run 2's metric.
// Run 2 is batched: a micro-batch of cells with one sender layer is one forward from the clean
// run's cached hook_resid_pre at that layer (blocks before it are the clean run's: frozen heads,
// unchanged MLPs) to the last receiver's block; run 3 goes through run_rows.
// Between a stage's chosen heads (path.by_cell) every cell has its own receiver: the cells are
// computed one receiver at a time, each as above.
#include <ATen/core/grad_mode.h>

#include <algorithm>
#include <map>
#include <set>

#include "analyses/cells.h"
#include "common/error.h"

namespace csweep::analyses {
namespace {

using model::HookPoint;
using model::HookSite;
using Receiver = SweepRequest::PathReceiver;

Error path_error(const std::string& field, const std::string& reason) {
  return error_at("analysis", "path_patching." + field, reason);
}

void check_request(const SweepRequest& r, const model::ModelConfig& c) {
  if (r.point != HookPoint::AttnZ && r.point != HookPoint::MlpOut)
    throw path_error("senders", "senders are attn.hook_z heads or hook_mlp_out");
  if (r.corrupted_tokens.size() != r.clean_tokens.size())
    throw path_error("prompts", "the corrupted prompt must have the clean prompt's length");
  for (const Receiver& x : r.path.receivers) {
    const bool kv = x.input == HookPoint::AttnK || x.input == HookPoint::AttnV;
    if (!kv && x.input != HookPoint::AttnQ) throw path_error("receivers", "inputs are q, k or v");
    if (x.layer < 0 || x.layer >= c.n_layers || x.head < 0 ||
        x.head >= (kv ? c.n_kv_heads : c.n_heads))
      throw path_error("receivers", "layer " + std::to_string(x.layer) + " head " +
                                        std::to_string(x.head) + " is not in the model");
  }
}

// What run 2 overwrites: every hook_z (and hook_mlp_out with freeze_mlps) with the clean run's,
// then each row's sender slice with the corrupted run's.
struct Run2Edits {
  const RunCache& clean;
  const RunCache& corrupted;
  HookPoint sender_point;
  bool freeze_mlps;
  const std::vector<detail::Cell>& cells;  // one per row

  void install(model::Hooks& hooks, int64_t first_layer, int64_t end_layer) const {
    for (int64_t l = first_layer; l < end_layer; ++l) {
      hooks.add({HookPoint::AttnZ, l},
                [this](at::Tensor& act, const HookSite& s) { edit(act, s); });
      if (freeze_mlps || sender_point == HookPoint::MlpOut)
        hooks.add({HookPoint::MlpOut, l},
                  [this](at::Tensor& act, const HookSite& s) { edit(act, s); });
    }
  }

  void edit(at::Tensor& act, const HookSite& site) const {
    const bool frozen = site.point == HookPoint::AttnZ || freeze_mlps;
    if (!frozen && site.layer != cells.front().layer) return;  // a recomputed MLP, no sender
    at::Tensor out = frozen ? clean.at_site(site).expand(act.sizes()).clone() : act.clone();
    if (site.point == sender_point) {
      const at::Tensor& corr = corrupted.at_site(site);
      for (size_t row = 0; row < cells.size(); ++row) {
        const detail::Cell& c = cells[row];
        if (c.layer != site.layer) continue;
        at::Tensor dst = out[static_cast<int64_t>(row)], src = corr[0];
        if (c.pos >= 0) dst = dst[c.pos], src = src[c.pos];
        if (c.head >= 0) dst = dst.select(-2, c.head), src = src.select(-2, c.head);
        dst.copy_(src);
      }
    }
    act = out;
  }
};

// Run 2 for one micro-batch of cells: the receivers' inputs per site, [rows, p, h, d_head], or
// (logits receiver) the metric per row.
struct Run2Result {
  std::map<HookSite, at::Tensor> inputs;
  std::vector<float> metric;
};

Run2Result run2(const model::Model& model, const SweepRequest& r, const RunCache& clean,
                const RunCache& corrupted, const std::vector<detail::Cell>& cells,
                const Metric& metric, bool from_tokens) {
  const auto& c = model.config();
  const int64_t rows = static_cast<int64_t>(cells.size());
  int64_t first = c.n_layers, last = -1;
  for (const auto& cell : cells) first = std::min(first, cell.layer);
  for (const auto& x : r.path.receivers) last = std::max(last, x.layer);
  const bool to_logits = r.path.receivers.empty();
  const int64_t end = to_logits ? c.n_layers : last + 1;
  if (from_tokens) first = 0;
  model::Hooks hooks;
  const Run2Edits edits{clean, corrupted, r.point, r.path.freeze_mlps, cells};
  edits.install(hooks, first, end);
  for (const auto& x : r.path.receivers)
    if (x.layer >= first) hooks.cache({x.input, x.layer});
  model::ForwardOptions o;
  o.start_layer = first;
  at::Tensor tokens;
  if (from_tokens)
    tokens = clean.tokens.expand({rows, clean.tokens.size(1)});
  else
    o.start_resid = clean.at_site({HookPoint::ResidPre, first}).expand({rows, -1, -1}).contiguous();
  if (to_logits)
    o.logits = model::ForwardOptions::Logits::Last;
  else
    o.stop_layer = end;
  at::NoGradGuard no_grad;
  const at::Tensor out = model.forward(tokens, &hooks, o);
  Run2Result res;
  if (to_logits) {
    const at::Tensor m = metric(out);
    res.metric.assign(m.data_ptr<float>(), m.data_ptr<float>() + rows);
  }
  res.inputs = hooks.cache();
  return res;
}

// Run 3's edits for one row: each receiver downstream of the sender gets its head's slice of
// run 2's input at every position (or the last only) (a receiver at or before the sender's layer
// reads the clean residual stream in run 2 as well, so it is left as it is; a sender at or after
// every receiver's layer is the clean run, and never gets here).
RowEdits receiver_edits(const SweepRequest& r, const detail::Cell& cell, const Run2Result& run,
                        int64_t row) {
  RowEdits edits;
  for (const Receiver& x : r.path.receivers) {
    if (x.layer <= cell.layer) continue;
    const HookSite site{x.input, x.layer};
    const at::Tensor& input = run.inputs.at(site);
    std::vector<int64_t> positions;
    if (r.path.last_position) positions = {input.size(1) - 1};
    edits.push_back(Edit{site, EditSlice{positions, {x.head}, {}}, input.narrow(0, row, 1)});
  }
  return edits;
}

// The cells of one receiver set (r.path.receivers; empty: the logits), in the order given.
std::vector<float> sender_cells(const detail::CellRange& range, const SweepRequest& r,
                                const std::vector<detail::Cell>& cells) {
  const model::Model& model = range.model;
  check_request(r, model.config());
  std::set<HookSite> sites;  // resume_sites() hold every hook_z; MLP outputs are asked for
  if (r.point == HookPoint::MlpOut || r.path.freeze_mlps)
    for (int64_t l = 0; l < model.config().n_layers; ++l) sites.insert({HookPoint::MlpOut, l});
  const auto clean_run = range.caches.get(model, "clean", r.clean_tokens, sites);
  const auto corrupted = range.caches.get(model, "clean", r.corrupted_tokens, sites);
  const Metric metric = detail::request_metric(r, *clean_run);
  const float clean_value = metric(clean_run->logits_last)[0].item<float>();
  const bool plain = r.batch.plain;
  const int64_t chunk =
      plain ? 1
            : micro_batch_size(model.config(), static_cast<int64_t>(r.clean_tokens.size()),
                               model.dtype(), r.batch);
  int64_t last_receiver = -1;
  for (const Receiver& x : r.path.receivers) last_receiver = std::max(last_receiver, x.layer);
  std::vector<float> out;
  // Micro-batches of one sender layer each: every row starts where its sender is, so a cell's
  // run does not depend on which other cells share its shard.
  for (size_t b = 0, e = 0; b < cells.size(); b = e) {
    e = b + 1;
    while (e < cells.size() && cells[e].layer == cells[b].layer &&
           e - b < static_cast<size_t>(chunk))
      ++e;
    const std::vector<detail::Cell> part(cells.begin() + static_cast<std::ptrdiff_t>(b),
                                         cells.begin() + static_cast<std::ptrdiff_t>(e));
    if (!r.path.receivers.empty() && part.front().layer >= last_receiver) {
      out.insert(out.end(), part.size(), clean_value);  // no receiver reads the sender
      continue;
    }
    const Run2Result run = run2(model, r, *clean_run, *corrupted, part, metric, plain);
    if (r.path.receivers.empty()) {
      out.insert(out.end(), run.metric.begin(), run.metric.end());
      continue;
    }
    std::vector<RowEdits> rows;  // each has the last receiver at least: it is downstream
    for (size_t i = 0; i < part.size(); ++i)
      rows.push_back(receiver_edits(r, part[i], run, static_cast<int64_t>(i)));
    const std::vector<float> patched = plain ? run_rows_plain(model, *clean_run, rows, metric)
                                             : run_rows(model, *clean_run, rows, metric, r.batch);
    out.insert(out.end(), patched.begin(), patched.end());
  }
  return out;
}

std::vector<float> path_patching_cells(const detail::CellRange& range) {
  const SweepRequest& r = range.request;
  const auto cells = detail::decode_cells(range.axes, range.begin, range.end);
  if (r.path.by_cell.empty()) return sender_cells(range, r, cells);
  // Each cell has its own receiver (path patching between a stage's chosen heads): one pass per
  // receiver over its cells, batched as above, written back in the cells' order.
  std::map<int64_t, std::vector<size_t>> rows_of;
  for (size_t i = 0; i < cells.size(); ++i) {
    const int64_t x = cells[i].receiver;
    if (x < 0 || x >= static_cast<int64_t>(r.path.by_cell.size()))
      throw path_error("receivers", "cell " +
                                        std::to_string(range.begin + static_cast<int64_t>(i)) +
                                        " has receiver " + std::to_string(x) + " of " +
                                        std::to_string(r.path.by_cell.size()));
    rows_of[x].push_back(i);
  }
  std::vector<float> out(cells.size());
  for (const auto& [x, rows] : rows_of) {
    SweepRequest one = r;
    one.path.by_cell.clear();
    one.path.receivers.clear();
    if (r.path.by_cell[x].layer >= 0) one.path.receivers.push_back(r.path.by_cell[x]);
    std::vector<detail::Cell> part;
    for (size_t i : rows) part.push_back(cells[i]);
    const std::vector<float> values = sender_cells(range, one, part);
    for (size_t k = 0; k < rows.size(); ++k) out[rows[k]] = values[k];
  }
  return out;
}

const KindCellsRegistration path_patching_registration("path_patching",
                                                       detail::over_range<path_patching_cells>);

}  // namespace
}  // namespace csweep::analyses
