#include "tests/analyses/request_grid.h"

#include <string>

#include "analyses/cells.h"
#include "common/error.h"

namespace csweep::analyses {

using model::HookPoint;

namespace {

Error bad(const std::string& field, const std::string& reason) {
  return error_at("analysis", field, reason);
}

std::vector<int64_t> all_or(const std::vector<int64_t>& chosen, int64_t n, const char* field) {
  if (chosen.empty()) {
    std::vector<int64_t> all(n);
    for (int64_t i = 0; i < n; ++i) all[i] = i;
    return all;
  }
  for (int64_t v : chosen) {
    if (v < 0 || v >= n) {
      throw bad(field, std::to_string(v) + " out of range [0, " + std::to_string(n) + ")");
    }
  }
  return chosen;
}

// A named axis over enum values (lens values, pattern scores), labelled by `name_of`.
template <typename Enum>
GridAxis named(const char* axis, const std::vector<Enum>& entries, const char* (*name_of)(Enum)) {
  GridAxis out{axis, {}, {}};
  for (Enum e : entries) {
    out.values.push_back(static_cast<int64_t>(e));
    out.labels.push_back(name_of(e));
  }
  return out;
}

}  // namespace

std::vector<GridAxis> grid_axes(const SweepRequest& r, const model::ModelConfig& c) {
  validate_request(r, c);
  if (!r.sites.empty()) {
    GridAxis site{"site", {}, {}};
    for (HookPoint p : r.sites) {
      site.values.push_back(static_cast<int64_t>(p));
      site.labels.push_back(model::point_suffix(p));
    }
    SweepRequest first = r;
    first.sites.clear();
    first.point = r.sites[0];
    std::vector<GridAxis> axes{site};
    for (auto& a : grid_axes(first, c)) axes.push_back(a);
    return axes;
  }
  const int64_t seq = static_cast<int64_t>(r.clean_tokens.size());
  GridAxis layer{"layer", all_or(r.layers, c.n_layers, "layers")};
  GridAxis pos{"pos", detail::resolve_positions(r.positions, seq)};
  const bool head_site = model::is_head_point(r.point);
  const int64_t heads = head_site && model::is_kv_head_point(r.point) ? c.n_kv_heads : c.n_heads;
  GridAxis head{"head", all_or(r.heads, heads, "heads")};
  GridAxis neuron{"neuron", r.neurons};
  if (r.kind == "causal_tracing") return {layer, pos};
  if (r.kind == "logit_lens") return {layer, named("quantity", r.lens_values, lens_value_name)};
  if (r.kind == "direct_logit_attribution")
    return r.point == HookPoint::AttnZ ? std::vector<GridAxis>{layer, head}
                                       : std::vector<GridAxis>{layer};
  if (r.kind == "attention_scores") {
    return {named("score", r.pattern_scores, pattern_score_name), layer,
            GridAxis{"head", all_or(r.heads, c.n_heads, "heads")}};
  }
  if (r.kind != "activation_patching" && r.kind != "ablation" && r.kind != "attribution_patching")
    throw bad("kind", r.kind + ": its grid is the registry's (jobs/kinds/); pass it to run_cells");
  if (!model::is_block_point(r.point)) {
    if (r.by_position) return {pos};
    return {};
  }
  if (head_site)
    return r.by_position ? std::vector<GridAxis>{layer, pos, head}
                         : std::vector<GridAxis>{layer, head};
  if (!r.neurons.empty()) {
    return r.by_position ? std::vector<GridAxis>{layer, pos, neuron}
                         : std::vector<GridAxis>{layer, neuron};
  }
  return r.by_position ? std::vector<GridAxis>{layer, pos} : std::vector<GridAxis>{layer};
}

std::vector<float> run_cells(const model::Model& model, const SweepRequest& request,
                             int64_t cell_begin, int64_t cell_end, CacheStore& caches) {
  return run_cells(model, request, grid_axes(request, model.config()), cell_begin, cell_end,
                   caches);
}

std::vector<float> run_cells_plain(const model::Model& model, const SweepRequest& request,
                                   int64_t cell_begin, int64_t cell_end, CacheStore& caches) {
  return run_cells_plain(model, request, grid_axes(request, model.config()), cell_begin, cell_end,
                         caches);
}

}  // namespace csweep::analyses
