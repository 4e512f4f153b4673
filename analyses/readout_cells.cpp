// Read-outs of one cached clean run, no interventions: logit lens, direct logit attribution,
// attention-pattern scores. All in fp32 whatever the model's dtype.
#include <ATen/CPUGeneratorImpl.h>

#include "analyses/cells.h"
#include "common/error.h"
#include "model/all_heads.h"

namespace csweep::analyses::detail {

using model::HookPoint;
using model::HookSite;

namespace {

at::Tensor f32(const at::Tensor& t) { return t.to(at::kFloat); }

// ln_final applied to x [n, d] with the normalisation recomputed from x.
at::Tensor final_norm(const model::Model& model, const at::Tensor& x) {
  const auto& c = model.config();
  const auto& w = model.weights();
  at::Tensor y;
  if (c.norm == model::NormKind::LayerNorm) {
    at::Tensor centred = x - x.mean({-1}, true);
    y = centred / (centred.pow(2).mean({-1}, true) + c.norm_eps).sqrt();
  } else {
    y = x * at::rsqrt(x.pow(2).mean({-1}, true) + c.norm_eps);
  }
  if (w.ln_final_w.defined()) y = y * f32(w.ln_final_w);
  if (w.ln_final_b.defined()) y = y + f32(w.ln_final_b);
  return y;
}

at::Tensor unembed(const model::Model& model, const at::Tensor& x) {
  const auto& w = model.weights();
  at::Tensor logits = at::matmul(x, f32(w.W_U).t());
  if (w.b_U.defined()) logits = logits + f32(w.b_U);
  return logits;
}

std::vector<float> logit_lens_cells(const CellRange& range) {
  const SweepRequest& r = range.request;
  std::set<HookSite> sites;
  const auto cells = decode_cells(range.axes, range.begin, range.end);
  for (const Cell& c : cells) sites.insert({HookPoint::ResidPost, c.layer});
  auto clean = range.caches.get(range.model, "clean", r.clean_tokens, sites);
  std::vector<float> out;
  for (const Cell& c : cells) {
    at::Tensor x = f32(clean->at_site({HookPoint::ResidPost, c.layer})).select(1, -1);  // [1, d]
    at::Tensor logits = unembed(range.model, final_norm(range.model, x));               // [1, V]
    float v = 0.0f;
    switch (static_cast<LensValue>(c.quantity)) {
      case LensValue::Prob:
        v = Metric(MetricKind::Prob, r.answers)(logits)[0].item<float>();
        break;
      case LensValue::LogProb:
        v = Metric(MetricKind::LogProb, r.answers)(logits)[0].item<float>();
        break;
      case LensValue::LogitDiff:
        v = Metric(MetricKind::LogitDiff, r.answers)(logits)[0].item<float>();
        break;
      case LensValue::TopToken:
        v = static_cast<float>(logits.argmax(1).item<int64_t>());
        break;
      case LensValue::Rank: {
        double sum = 0.0;
        for (const auto& p : r.answers) {
          sum += (logits[0] > logits[0][p.answer]).sum().item<int64_t>();
        }
        v = static_cast<float>(sum / static_cast<double>(r.answers.size()));
        break;
      }
    }
    out.push_back(v);
  }
  return out;
}

std::vector<float> dla_cells(const CellRange& range) {
  const SweepRequest& r = range.request;
  const auto& config = range.model.config();
  const auto& w = range.model.weights();
  const int64_t last_layer = config.n_layers - 1;
  std::set<HookSite> sites{{HookPoint::ResidPost, last_layer}};
  const auto cells = decode_cells(range.axes, range.begin, range.end);
  for (const Cell& c : cells) {
    if (r.point == HookPoint::AttnZ) sites.insert({HookPoint::AttnZ, c.layer});
    if (r.point == HookPoint::AttnOut || r.point == HookPoint::ResidPost)
      sites.insert({HookPoint::AttnOut, c.layer});
    if (r.point == HookPoint::MlpOut || r.point == HookPoint::ResidPost)
      sites.insert({HookPoint::MlpOut, c.layer});
  }
  auto clean = range.caches.get(range.model, "clean", r.clean_tokens, sites);
  // The logit-difference direction through the final norm's weight, averaged over pairs.
  at::Tensor W_U = f32(w.W_U);
  at::Tensor direction = at::zeros({config.d_model}, W_U.options());
  for (const auto& p : r.answers) direction = direction + (W_U[p.answer] - W_U[p.wrong]);
  direction = direction / static_cast<double>(r.answers.size());
  if (w.ln_final_w.defined()) direction = direction * f32(w.ln_final_w);
  // TransformerLens apply_ln: the final norm's scale frozen from the real final residual.
  const bool layer_norm = config.norm == model::NormKind::LayerNorm;
  at::Tensor final_resid =
      f32(clean->at_site({HookPoint::ResidPost, last_layer})).select(1, -1)[0];  // [d]
  if (layer_norm) final_resid = final_resid - final_resid.mean();
  const double scale = (final_resid.pow(2).mean() + config.norm_eps).sqrt().item<double>();
  auto attribute = [&](at::Tensor component) {  // [d]
    if (layer_norm) component = component - component.mean();
    return (component / scale).dot(direction).item<float>();
  };
  std::vector<float> out;
  int64_t o_layer = -1;  // the layer whose every head's W_O is in `all_W_O` (cells go by layer)
  at::Tensor all_W_O;
  for (const Cell& c : cells) {
    if (r.point == HookPoint::AttnZ) {
      if (c.layer != o_layer) {
        all_W_O = f32(model::all_heads(range.model, w.layers[c.layer]).W_O);  // collective
        o_layer = c.layer;
      }
      at::Tensor z =
          f32(clean->at_site({HookPoint::AttnZ, c.layer})).select(1, -1)[0][c.head];  // [d_head]
      at::Tensor W_O = all_W_O.narrow(1, c.head * config.d_head, config.d_head);      // [d, d_head]
      out.push_back(attribute(at::mv(W_O, z)));
    } else {
      at::Tensor component = at::zeros({config.d_model}, W_U.options());
      if (r.point != HookPoint::MlpOut)
        component = component + f32(clean->at_site({HookPoint::AttnOut, c.layer})).select(1, -1)[0];
      if (r.point != HookPoint::AttnOut)
        component = component + f32(clean->at_site({HookPoint::MlpOut, c.layer})).select(1, -1)[0];
      out.push_back(attribute(component));
    }
  }
  return out;
}

std::vector<float> attention_score_cells(const CellRange& range) {
  const SweepRequest& r = range.request;
  const auto& config = range.model.config();
  const auto cells = decode_cells(range.axes, range.begin, range.end);
  std::set<HookSite> sites;
  for (const Cell& c : cells) sites.insert({HookPoint::AttnPattern, c.layer});
  // Induction is scored on repeated random tokens, the others on the prompt.
  std::vector<int64_t> repeated;
  const int64_t n = r.induction_length;
  bool induction = false;
  for (const Cell& c : cells)
    induction = induction || static_cast<PatternScore>(c.score) == PatternScore::Induction;
  if (induction) {
    if (n < 2 || 2 * n > config.n_ctx) {
      throw error_at("analysis", "induction_length",
                     "needs 2 <= 2 * length <= n_ctx (" + std::to_string(config.n_ctx) + ")");
    }
    at::Generator gen = at::detail::createCPUGenerator(r.seed);
    at::Tensor random = at::randint(config.d_vocab, {n}, gen, at::TensorOptions().dtype(at::kLong));
    repeated.assign(random.data_ptr<int64_t>(), random.data_ptr<int64_t>() + n);
    repeated.insert(repeated.end(), repeated.begin(), repeated.end());
  }
  std::vector<float> out;
  for (const Cell& c : cells) {
    const PatternScore score = static_cast<PatternScore>(c.score);
    const std::vector<int64_t>& tokens =
        score == PatternScore::Induction ? repeated : r.clean_tokens;
    auto run = range.caches.get(range.model, "clean", tokens, sites);
    const int64_t seq = static_cast<int64_t>(tokens.size());
    at::Tensor pattern =
        f32(run->at_site({HookPoint::AttnPattern, c.layer}))[0][c.head].cpu();  // [q, k]
    auto p = pattern.accessor<float, 2>();
    double sum = 0.0;
    int64_t count = 0;
    switch (score) {
      case PatternScore::PreviousToken:
        for (int64_t q = 1; q < seq; ++q, ++count) sum += p[q][q - 1];
        break;
      case PatternScore::DuplicateToken:
        for (int64_t q = 1; q < seq; ++q) {
          double mass = 0.0;
          bool any = false;
          for (int64_t k = 0; k < q; ++k) {
            if (tokens[k] == tokens[q]) {
              mass += p[q][k];
              any = true;
            }
          }
          if (any) {
            sum += mass;
            ++count;
          }
        }
        break;
      case PatternScore::Induction:  // attention from the repeat of token i to token i + 1 of the
                                     // first copy
        for (int64_t q = n; q < seq; ++q, ++count) sum += p[q][q - n + 1];
        break;
    }
    out.push_back(count ? static_cast<float>(sum / static_cast<double>(count)) : 0.0f);
  }
  return out;
}

// Each kind's computation, found by the registry's name of the kind (jobs/kinds/).
const KindCellsRegistration logit_lens_registration(kLogitLens, over_range<logit_lens_cells>);
const KindCellsRegistration dla_registration(kDirectLogitAttribution, over_range<dla_cells>);
const KindCellsRegistration attention_scores_registration(kAttentionScores,
                                                          over_range<attention_score_cells>);

}  // namespace

}  // namespace csweep::analyses::detail
