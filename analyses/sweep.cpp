#include "analyses/sweep.h"

#include <string>

#include "analyses/cells.h"
#include "common/error.h"

namespace csweep::analyses {

using model::HookPoint;

namespace {

Error request_error(const std::string& field, const std::string& reason) {
  return error_at("analysis", field, reason);
}

int64_t head_count(HookPoint point, const model::ModelConfig& c) {
  return model::is_kv_head_point(point) ? c.n_kv_heads : c.n_heads;
}

int64_t last_dim(HookPoint point, const model::ModelConfig& c) {
  switch (point) {
    case HookPoint::MlpPre:
    case HookPoint::MlpPreLinear:
    case HookPoint::MlpPost:
      return c.d_mlp;
    case HookPoint::Ln1Scale:
    case HookPoint::Ln2Scale:
    case HookPoint::LnFinalScale:
      return 1;
    default:
      return model::is_head_point(point) ? c.d_head : c.d_model;
  }
}

}  // namespace

namespace detail {

bool is_known_kind(const std::string& kind) {
  for (const char* k : {kPatching, kAblation, kCausalTracing, kLogitLens, kDirectLogitAttribution,
                        kAttentionScores, kAttributionPatching}) {
    if (kind == k) return true;
  }
  return false;
}

}  // namespace detail

const char* lens_value_name(LensValue v) {
  switch (v) {
    case LensValue::Prob:
      return "prob";
    case LensValue::LogProb:
      return "logprob";
    case LensValue::Rank:
      return "rank";
    case LensValue::LogitDiff:
      return "logit_diff";
    case LensValue::TopToken:
      return "top_token";
  }
  return "?";
}

LensValue parse_lens_value(const std::string& name) {
  for (auto v : {LensValue::Prob, LensValue::LogProb, LensValue::Rank, LensValue::LogitDiff,
                 LensValue::TopToken}) {
    if (name == lens_value_name(v)) return v;
  }
  throw request_error("quantities", "unknown logit-lens quantity '" + name +
                                        "' (prob, logprob, rank, logit_diff, top_token)");
}

const char* pattern_score_name(PatternScore s) {
  switch (s) {
    case PatternScore::PreviousToken:
      return "previous_token";
    case PatternScore::DuplicateToken:
      return "duplicate_token";
    case PatternScore::Induction:
      return "induction";
  }
  return "?";
}

PatternScore parse_pattern_score(const std::string& name) {
  for (auto s :
       {PatternScore::PreviousToken, PatternScore::DuplicateToken, PatternScore::Induction}) {
    if (name == pattern_score_name(s)) return s;
  }
  throw request_error("scores", "unknown attention score '" + name +
                                    "' (previous_token, duplicate_token, induction)");
}

Direction parse_direction(const std::string& name) {
  if (name == "denoising") return Direction::Denoising;
  if (name == "noising") return Direction::Noising;
  throw request_error("direction", "unknown direction '" + name + "' (denoising or noising)");
}

AblationMode parse_ablation_mode(const std::string& name) {
  if (name == "zero") return AblationMode::Zero;
  if (name == "mean") return AblationMode::Mean;
  if (name == "resample") return AblationMode::Resample;
  throw request_error("method", "unknown ablation '" + name + "' (zero, mean or resample)");
}

int64_t grid_cells(const std::vector<GridAxis>& axes) {
  int64_t n = 1;
  for (const auto& a : axes) n *= a.size();
  return n;
}

namespace {

void check_ids(const std::vector<int64_t>& ids, const model::ModelConfig& c, const char* field) {
  for (int64_t t : ids) {
    if (t < 0 || t >= c.d_vocab)
      throw request_error(field, "token id " + std::to_string(t) + " outside the vocabulary");
  }
}

// The prompt pair and the answers: lengths, token ids, answers where the metric needs them.
void check_tokens(const SweepRequest& r, const model::ModelConfig& c) {
  const int64_t seq = static_cast<int64_t>(r.clean_tokens.size());
  bool needs_prompt = r.kind != detail::kAttentionScores;
  for (PatternScore ps : r.pattern_scores)
    needs_prompt = needs_prompt || ps != PatternScore::Induction;
  if (needs_prompt && seq == 0) throw request_error("clean_tokens", "empty prompt");
  if (seq > c.n_ctx)
    throw request_error("clean_tokens",
                        std::to_string(seq) + " tokens exceed n_ctx " + std::to_string(c.n_ctx));
  check_ids(r.clean_tokens, c, "clean_tokens");
  check_ids(r.corrupted_tokens, c, "corrupted_tokens");
  const bool pair = r.kind == detail::kPatching || r.kind == detail::kAttributionPatching;
  if (pair && r.corrupted_tokens.size() != r.clean_tokens.size()) {
    throw request_error("corrupted_tokens", std::to_string(r.corrupted_tokens.size()) +
                                                " tokens, clean prompt has " + std::to_string(seq));
  }
  const bool uses_metric = r.kind == detail::kPatching || r.kind == detail::kAblation ||
                           r.kind == detail::kCausalTracing ||
                           r.kind == detail::kAttributionPatching || r.kind == detail::kLogitLens ||
                           r.kind == detail::kDirectLogitAttribution;
  if (uses_metric && r.answers.empty() &&
      !(r.metric == MetricKind::KL && r.kind != detail::kLogitLens &&
        r.kind != detail::kDirectLogitAttribution)) {
    throw request_error("answers", "needs at least one answer/wrong pair");
  }
  for (const auto& p : r.answers) check_ids({p.answer, p.wrong}, c, "answers");
}

// The site and the subsets of layers, heads, neurons and positions.
void check_axes(const SweepRequest& r, const model::ModelConfig& c) {
  const int64_t seq = static_cast<int64_t>(r.clean_tokens.size());
  for (int64_t l : r.layers) {
    if (l < 0 || l >= c.n_layers)
      throw request_error(
          "layers", std::to_string(l) + " out of range [0, " + std::to_string(c.n_layers) + ")");
  }
  if (model::is_block_point(r.point)) {
    std::string why;
    if (!model::site_exists({r.point, 0}, c, &why)) throw request_error("site", why);
  } else if (r.kind != detail::kPatching) {
    throw request_error("site", std::string(model::point_suffix(r.point)) + ": " + r.kind +
                                    " needs a site inside the blocks");
  }
  if (!r.heads.empty() && !model::is_head_point(r.point) && r.kind != detail::kAttentionScores) {
    throw request_error("heads",
                        std::string("site ") + model::point_suffix(r.point) + " has no head axis");
  }
  for (int64_t h : r.heads) {
    const int64_t n = model::is_head_point(r.point) ? head_count(r.point, c) : c.n_heads;
    if (h < 0 || h >= n)
      throw request_error("heads",
                          std::to_string(h) + " out of range [0, " + std::to_string(n) + ")");
  }
  for (int64_t i : r.neurons) {
    const int64_t n = last_dim(r.point, c);
    if (i < 0 || i >= n)
      throw request_error("neurons",
                          std::to_string(i) + " out of range [0, " + std::to_string(n) + ")");
  }
  for (int64_t p : r.positions) {
    if (p < -seq || p >= seq)
      throw request_error(
          "positions", std::to_string(p) + " out of range for " + std::to_string(seq) + " tokens");
  }
}

// What one kind reads besides its axes: reference prompts, noising, quantities.
void check_kind_options(const SweepRequest& r, const model::ModelConfig& c) {
  const int64_t seq = static_cast<int64_t>(r.clean_tokens.size());
  if (r.kind == detail::kAblation && r.ablation == AblationMode::Resample &&
      r.reference_prompts.empty()) {
    throw request_error("reference_prompts", "resample ablation needs a pool of reference prompts");
  }
  for (const auto& ref : r.reference_prompts) {
    if (ref.size() != r.clean_tokens.size())
      throw request_error("reference_prompts",
                          "every reference prompt must have the prompt's length");
    check_ids(ref, c, "reference_prompts");
  }
  if (r.kind == detail::kCausalTracing) {
    if (r.subject_positions.empty())
      throw request_error("subject_positions",
                          "causal tracing needs the subject's token positions");
    for (int64_t p : r.subject_positions) {
      if (p < -seq || p >= seq)
        throw request_error("subject_positions", std::to_string(p) + " out of range");
    }
    if (r.point != HookPoint::ResidPost && r.point != HookPoint::ResidPre &&
        r.point != HookPoint::AttnOut && r.point != HookPoint::MlpOut) {
      throw request_error(
          "site",
          "causal tracing restores hook_resid_pre, hook_resid_post, hook_attn_out or hook_mlp_out");
    }
    if (r.window < 1) throw request_error("window", "must be >= 1");
    if (r.samples < 1) throw request_error("samples", "must be >= 1");
  }
  if (r.kind == detail::kDirectLogitAttribution && r.point != HookPoint::AttnZ &&
      r.point != HookPoint::AttnOut && r.point != HookPoint::MlpOut &&
      r.point != HookPoint::ResidPost) {
    throw request_error(
        "site",
        "direct logit attribution is per attn.hook_z head, hook_attn_out, hook_mlp_out or "
        "hook_resid_post");
  }
  if (r.kind == detail::kLogitLens && r.lens_values.empty())
    throw request_error("quantities", "empty list");
  if (r.kind == detail::kAttentionScores && r.pattern_scores.empty())
    throw request_error("scores", "empty list");
  if (r.kind == detail::kAttributionPatching && r.point == HookPoint::AttnScores) {
    // Masked scores are -inf in both runs: their difference is NaN. hook_pattern carries the same
    // information.
    throw request_error(
        "site",
        "attribution patching of hook_attn_scores is not defined (masked scores are -inf); "
        "use attn.hook_pattern");
  }
}

}  // namespace

void validate_request(const SweepRequest& r, const model::ModelConfig& c) {
  if (!find_kind_cells(r.kind))
    throw request_error("kind", "no computation registered for analysis kind '" + r.kind + "'");
  // A kind added through the registry checks what it reads in its own cells function.
  if (!detail::is_known_kind(r.kind)) return;
  check_tokens(r, c);
  check_axes(r, c);
  check_kind_options(r, c);
  // Several sites: each must be valid alone, and all must share one grid.
  if (!r.sites.empty()) {
    if (r.kind != detail::kPatching && r.kind != detail::kAttributionPatching) {
      throw request_error(
          "sites",
          std::string("several sites only for patching and attribution patching, not ") + r.kind);
    }
    for (HookPoint p : r.sites) {
      SweepRequest one = r;
      one.sites.clear();
      one.point = p;
      validate_request(one, c);
      if (model::is_block_point(p) != model::is_block_point(r.sites[0]) ||
          model::is_head_point(p) != model::is_head_point(r.sites[0]) ||
          (model::is_head_point(p) && head_count(p, c) != head_count(r.sites[0], c))) {
        throw request_error("sites", std::string(model::point_suffix(p)) + " and " +
                                         model::point_suffix(r.sites[0]) +
                                         " have different grids; use separate analyses");
      }
    }
  }
}

namespace detail {

std::vector<int64_t> resolve_positions(const std::vector<int64_t>& positions, int64_t seq) {
  std::vector<int64_t> out;
  if (positions.empty()) {
    for (int64_t p = 0; p < seq; ++p) out.push_back(p);
    return out;
  }
  for (int64_t p : positions) out.push_back(p < 0 ? p + seq : p);
  return out;
}

// Row-major: the last axis varies fastest. A "candidate" axis's value is a cell of its own grid.
static void decode_cell(const std::vector<GridAxis>& axes, int64_t cell, Cell& out) {
  int64_t rest = cell;
  for (int64_t a = static_cast<int64_t>(axes.size()) - 1; a >= 0; --a) {
    const GridAxis& axis = axes[a];
    const int64_t v = axis.values[rest % axis.size()];
    rest /= axis.size();
    if (!axis.within.empty())
      decode_cell(axis.within, v, out);
    else if (axis.name == "layer")
      out.layer = v;
    else if (axis.name == "pos")
      out.pos = v;
    else if (axis.name == "head")
      out.head = v;
    else if (axis.name == "neuron")
      out.neuron = v;
    else if (axis.name == "quantity")
      out.quantity = v;
    else if (axis.name == "score")
      out.score = v;
    else if (axis.name == "feature")
      out.feature = v;
    else if (axis.name == "receiver")
      out.receiver = v;
  }
}

std::vector<Cell> decode_cells(const std::vector<GridAxis>& axes, int64_t begin, int64_t end) {
  std::vector<Cell> cells;
  cells.reserve(static_cast<size_t>(std::max<int64_t>(0, end - begin)));
  for (int64_t cell = begin; cell < end; ++cell) {
    Cell out;
    decode_cell(axes, cell, out);
    cells.push_back(out);
  }
  return cells;
}

Metric request_metric(const SweepRequest& r, const RunCache& clean) {
  return Metric(r.metric, r.answers, r.metric == MetricKind::KL ? clean.logits_last : at::Tensor());
}

}  // namespace detail

static std::vector<float> dispatch(const model::Model& model, const SweepRequest& request,
                                   const std::vector<GridAxis>& axes, int64_t begin, int64_t end,
                                   CacheStore& caches) {
  const int64_t n = grid_cells(axes);
  if (begin < 0 || end > n || begin > end) {
    throw request_error("cells", "range [" + std::to_string(begin) + ", " + std::to_string(end) +
                                     ") outside the grid of " + std::to_string(n) + " cells");
  }
  if (begin == end) return {};
  if (!request.sites.empty()) {  // one sub-grid per site, in order
    const int64_t per_site = n / static_cast<int64_t>(request.sites.size());
    std::vector<float> out;
    for (size_t s = 0; s < request.sites.size(); ++s) {
      const int64_t lo = std::max(begin, static_cast<int64_t>(s) * per_site);
      const int64_t hi = std::min(end, static_cast<int64_t>(s + 1) * per_site);
      if (lo >= hi) continue;
      SweepRequest one = request;
      one.sites.clear();
      one.point = request.sites[s];
      const std::vector<GridAxis> inner(axes.begin() + 1,
                                        axes.end());  // after the leading site axis
      const auto part = dispatch(model, one, inner, lo - static_cast<int64_t>(s) * per_site,
                                 hi - static_cast<int64_t>(s) * per_site, caches);
      out.insert(out.end(), part.begin(), part.end());
    }
    return out;
  }
  return find_kind_cells(request.kind)(model, request, axes, begin, end, caches);
}

std::vector<float> run_cells(const model::Model& model, const SweepRequest& request,
                             const std::vector<GridAxis>& axes, int64_t cell_begin,
                             int64_t cell_end, CacheStore& caches) {
  validate_request(request, model.config());  // also: a computation is registered for the kind
  return dispatch(model, request, axes, cell_begin, cell_end, caches);
}

std::vector<float> run_cells_plain(const model::Model& model, const SweepRequest& request,
                                   const std::vector<GridAxis>& axes, int64_t cell_begin,
                                   int64_t cell_end, CacheStore& caches) {
  SweepRequest plain = request;
  plain.batch.plain = true;
  return run_cells(model, plain, axes, cell_begin, cell_end, caches);
}

Baselines baselines(const model::Model& model, const SweepRequest& request, CacheStore& caches) {
  validate_request(request, model.config());
  return detail::intervention_baselines(model, request, caches);
}

}  // namespace csweep::analyses
