// Circuit faithfulness (MIB, Mueller et al. 2025), one cell per circuit size n of the grid's
// size axis: the metric of the clean run with every node of the universe (each head's
// attn.hook_z slice; with `mlps`, each block's hook_mlp_out) that is not among the first n ranked
// nodes ablated, all in one row: patched from the corrupted run (counterfactual ablation), set to
// its mean over the reference prompts (TransformerLens's: over prompts and positions) or zeroed.
// A node with a position keeps its component at that position only. A row with nothing ablated
// (n >= the universe's size, or every node kept) is the clean run itself. Circuits of edges are
// analyses/edge_circuit.h's.
#include <algorithm>
#include <map>
#include <set>

#include "analyses/cells.h"
#include "analyses/edge_circuit.h"
#include "common/error.h"

namespace csweep::analyses {
namespace {

using model::HookPoint;
using model::HookSite;
using Node = SweepRequest::CircuitNode;
using Ablation = SweepRequest::CircuitAblation;

Error circuit_error(const std::string& field, const std::string& reason) {
  return error_at("analysis", "circuit_faithfulness." + field, reason);
}

// Every component of the universe, at every position (pos -1), in model order.
std::vector<Node> universe(const model::ModelConfig& c, bool mlps) {
  std::vector<Node> u;
  for (int64_t l = 0; l < c.n_layers; ++l) {
    for (int64_t h = 0; h < c.n_heads; ++h) u.push_back({HookPoint::AttnZ, l, h, -1});
    if (mlps) u.push_back({HookPoint::MlpOut, l, -1, -1});
  }
  return u;
}

bool same_component(const Node& a, const Node& b) {
  return a.point == b.point && a.layer == b.layer && a.head == b.head;
}

void check_circuit_request(const SweepRequest& r, const model::ModelConfig& c,
                           const std::vector<GridAxis>& axes) {
  if (axes.size() != 1 || axes[0].name != "size")
    throw circuit_error("grid", "the grid is one size axis (node counts)");
  const auto seq = static_cast<int64_t>(r.clean_tokens.size());
  for (size_t i = 0; i < r.circuit.ranked.size(); ++i) {
    const Node& n = r.circuit.ranked[i];
    const std::string at = "ranked[" + std::to_string(i) + "]";
    const bool head = n.point == HookPoint::AttnZ;
    if (!head && n.point != HookPoint::MlpOut)
      throw circuit_error(at, "a node is an attn.hook_z head or a hook_mlp_out");
    if (!head && !r.circuit.mlps)
      throw circuit_error(at, "an MLP node needs a universe with the MLPs");
    if (n.layer < 0 || n.layer >= c.n_layers || (head && (n.head < 0 || n.head >= c.n_heads)))
      throw circuit_error(at, "layer " + std::to_string(n.layer) + " head " +
                                  std::to_string(n.head) + " is not in the model");
    if (n.pos >= seq)
      throw circuit_error(at, "position " + std::to_string(n.pos) + " past the prompt");
    for (size_t j = 0; j < i; ++j)
      if (same_component(n, r.circuit.ranked[j]) && n.pos == r.circuit.ranked[j].pos)
        throw circuit_error(at, "listed twice");
  }
  if (r.circuit.ablation == Ablation::Patch && r.corrupted_tokens.size() != r.clean_tokens.size())
    throw circuit_error("prompts",
                        "patch ablation needs a corrupted prompt of the clean prompt's length");
}

// The positions of `component` that the kept nodes leave ablated: none (every position kept),
// some, or every position (an empty slice list).
struct Ablated {
  bool any = true;
  std::vector<int64_t> positions;  // empty: every position
};

Ablated ablated_positions(const Node& component, const std::vector<Node>& kept, int64_t seq) {
  std::set<int64_t> keep;
  for (const Node& n : kept) {
    if (!same_component(n, component)) continue;
    if (n.pos < 0) return {false, {}};
    keep.insert(n.pos);
  }
  Ablated out;
  if (keep.empty()) return out;
  for (int64_t p = 0; p < seq; ++p)
    if (!keep.count(p)) out.positions.push_back(p);
  out.any = !out.positions.empty();
  return out;
}

std::vector<float> circuit_faithfulness_cells(const detail::CellRange& range) {
  const SweepRequest& r = range.request;
  if (r.circuit.over_edges) return detail::edge_circuit_cells(range);
  const model::Model& model = range.model;
  const auto& c = model.config();
  check_circuit_request(r, c, range.axes);
  const std::vector<Node> all = universe(c, r.circuit.mlps);
  std::set<HookSite> sites;  // resume_sites() hold every hook_z; MLP outputs are asked for
  if (r.circuit.mlps)
    for (int64_t l = 0; l < c.n_layers; ++l) sites.insert({HookPoint::MlpOut, l});
  const auto clean = range.caches.get(model, "clean", r.clean_tokens, sites);
  std::shared_ptr<const RunCache> corrupted;
  if (r.circuit.ablation == Ablation::Patch)
    corrupted = range.caches.get(model, "clean", r.corrupted_tokens, sites);
  // Mean ablation's value per site: the mean over the reference prompts and their positions.
  std::map<HookSite, at::Tensor> means;
  if (r.circuit.ablation == Ablation::Mean) {
    std::vector<std::shared_ptr<const RunCache>> refs;
    for (const auto& tokens : r.reference_prompts)
      refs.push_back(range.caches.get(model, "clean", tokens, sites));
    if (refs.empty()) refs.push_back(clean);
    for (const Node& u : all) {
      const HookSite site{u.point, u.layer};
      if (means.count(site)) continue;
      const std::vector<int64_t> positions{1};  // an IntArrayRef of a braced list would dangle
      at::Tensor sum = at::zeros_like(clean->at_site(site).mean(positions, true), at::kFloat);
      for (const auto& ref : refs) sum += ref->at_site(site).to(at::kFloat).mean(positions, true);
      means[site] = (sum / static_cast<double>(refs.size())).to(clean->at_site(site).scalar_type());
    }
  }
  const at::Tensor zero = at::zeros({}, clean->logits_last.options());
  const auto seq = static_cast<int64_t>(r.clean_tokens.size());
  const Metric metric = detail::request_metric(r, *clean);
  const float clean_value = metric(clean->logits_last)[0].item<float>();

  std::vector<RowEdits> rows;
  std::vector<size_t> row_of_cell;  // index into rows, or npos for the clean run
  const GridAxis& sizes = range.axes[0];
  for (int64_t cell = range.begin; cell < range.end; ++cell) {
    const int64_t n = sizes.values[static_cast<size_t>(cell)];
    const auto kept_end =
        r.circuit.ranked.begin() + std::min<std::ptrdiff_t>(n, std::ssize(r.circuit.ranked));
    const std::vector<Node> kept(r.circuit.ranked.begin(), kept_end);
    RowEdits row;
    for (const Node& u : all) {
      if (n >= std::ssize(all)) break;  // the full model
      const Ablated a = ablated_positions(u, kept, seq);
      if (!a.any) continue;
      const HookSite site{u.point, u.layer};
      EditSlice slice{a.positions, {}, {}};
      if (u.head >= 0) slice.heads = {u.head};
      const at::Tensor& value = r.circuit.ablation == Ablation::Patch  ? corrupted->at_site(site)
                                : r.circuit.ablation == Ablation::Mean ? means.at(site)
                                                                       : zero;
      row.push_back(Edit{site, slice, value});
    }
    row_of_cell.push_back(row.empty() ? std::string::npos : rows.size());
    if (!row.empty()) rows.push_back(std::move(row));
  }
  std::vector<float> edited;
  if (!rows.empty())
    edited = r.batch.plain ? run_rows_plain(model, *clean, rows, metric)
                           : run_rows(model, *clean, rows, metric, r.batch);
  std::vector<float> out;
  for (size_t i : row_of_cell) out.push_back(i == std::string::npos ? clean_value : edited[i]);
  return out;
}

const KindCellsRegistration circuit_faithfulness_registration(
    "circuit_faithfulness", detail::over_range<circuit_faithfulness_cells>);

}  // namespace
}  // namespace csweep::analyses
