// The probe kind's cells. One request carries the whole labelled prompt set; the activations are
// streamed: each training prompt's run adds its rows to the ridge statistics and is dropped, and
// each held-out prompt's run is scored against the solved probes and dropped, so no more than one
// prompt's activations are held at a time.
#include "analyses/probe.h"

#include <ATen/core/grad_mode.h>

#include <map>
#include <random>
#include <set>

#include "analyses/cells.h"
#include "common/error.h"

namespace csweep::analyses {
namespace {

Error probe_error(const std::string& field, const std::string& reason) {
  return error_at("analysis", "probe." + field, reason);
}

// One fit per (site, layer, token) of the grid: the grid without its trailing quantity axis.
struct Fit {
  model::HookSite site;
  int64_t token = -1;  // a position; negative: from the end of the prompt
};

std::vector<Fit> grid_fits(const std::vector<GridAxis>& axes, const model::ModelConfig& c) {
  std::vector<std::string> names;
  for (const auto& a : axes) names.push_back(a.name);
  if (names != std::vector<std::string>{"site", "layer", "token", "quantity"})
    throw probe_error("grid", "expects [site, layer, token, quantity]");
  for (int64_t s : axes[0].values)  // a site the model lacks would never be cached
    if (std::string why; !model::site_exists({static_cast<model::HookPoint>(s), 0}, c, &why))
      throw probe_error("sites",
                        std::string(model::point_suffix(static_cast<model::HookPoint>(s))) +
                            " does not exist in this model: " + why);
  std::vector<Fit> fits;
  for (int64_t s : axes[0].values)
    for (int64_t l : axes[1].values)
      for (int64_t t : axes[2].values) fits.push_back({{static_cast<model::HookPoint>(s), l}, t});
  return fits;
}

// Every fit's feature row of one prompt's unedited run: [fits, d_model] float64 on the CPU.
at::Tensor features(const model::Model& model, const std::vector<int64_t>& tokens,
                    const std::vector<Fit>& fits) {
  std::set<model::HookSite> sites;
  for (const auto& f : fits) sites.insert(f.site);
  const RunCache run = compute_run_cache(model, tokens, sites);
  const auto seq = static_cast<int64_t>(tokens.size());
  std::vector<at::Tensor> rows;
  for (const auto& f : fits) {
    const int64_t pos = f.token >= 0 ? f.token : seq + f.token;
    if (pos < 0 || pos >= seq)
      throw probe_error("tokens", "token " + std::to_string(f.token) + " is outside a prompt of " +
                                      std::to_string(seq) + " tokens");
    rows.push_back(run.at_site(f.site)[0][pos]);
  }
  return at::stack(rows).to(at::kCPU, at::kDouble);
}

// The targets of one training example: its own label's and its control label's columns.
at::Tensor targets(const SweepRequest::Probe& p, const std::map<double, int64_t>& classes,
                   int64_t own, int64_t control) {
  if (!p.classes)
    return at::tensor(std::vector<double>{p.labels[own], p.labels[control]}, at::kDouble);
  const auto k = static_cast<int64_t>(classes.size());
  at::Tensor y = at::zeros({2 * k}, at::kDouble);
  y[classes.at(p.labels[own])] = 1.0;
  y[k + classes.at(p.labels[control])] = 1.0;
  return y;
}

// [fits, 2]: the probe's and the control's held-out accuracy (classes) or R² (values).
at::Tensor held_out_scores(const model::Model& model, const SweepRequest::Probe& p,
                           const std::vector<Fit>& fits, const std::vector<int64_t>& held,
                           const std::map<double, int64_t>& classes, const at::Tensor& w) {
  const auto k = static_cast<int64_t>(classes.size());
  const auto n_fits = static_cast<int64_t>(fits.size());
  at::Tensor hits = at::zeros({n_fits, 2}, at::kDouble), sse = at::zeros({n_fits, 2}, at::kDouble);
  double mean = 0.0, sst = 0.0;
  for (int64_t i : held) mean += p.labels[i] / static_cast<double>(held.size());
  for (int64_t i : held) {
    const at::Tensor x = features(model, p.prompts[i], fits);
    const at::Tensor xb = at::cat({x, at::ones({n_fits, 1}, at::kDouble)}, 1);
    const at::Tensor pred = at::bmm(xb.unsqueeze(1), w).squeeze(1);  // [fits, targets]
    if (p.classes) {
      const int64_t label = classes.at(p.labels[i]);
      hits.select(1, 0).add_(pred.narrow(1, 0, k).argmax(1).eq(label).to(at::kDouble));
      hits.select(1, 1).add_(pred.narrow(1, k, k).argmax(1).eq(label).to(at::kDouble));
    } else {
      sse.add_((pred - p.labels[i]).square());
      sst += (p.labels[i] - mean) * (p.labels[i] - mean);
    }
  }
  if (p.classes) return hits / static_cast<double>(held.size());
  return 1.0 - sse / sst;  // NaN when every held-out target is the same
}

std::vector<float> probe_cells(const model::Model& model, const SweepRequest& r,
                               const std::vector<GridAxis>& axes, int64_t begin, int64_t end,
                               CacheStore&) {
  const std::vector<Fit> fits = grid_fits(axes, model.config());
  const SweepRequest::Probe& p = r.probe;
  const auto n = static_cast<int64_t>(p.prompts.size());
  if (n < 2 || p.labels.size() != p.prompts.size())
    throw probe_error("prompts", std::to_string(n) + " prompts with " +
                                     std::to_string(p.labels.size()) +
                                     " labels; a probe needs at least two labelled prompts");
  std::map<double, int64_t> classes;  // a class id's column
  if (p.classes)
    for (double l : p.labels) classes.emplace(l, 0);
  int64_t column = 0;
  for (auto& [label, c] : classes) c = column++;
  const ProbeSplit split = probe_split(n, p.held_out, r.seed);
  if (split.train.empty() || split.held_out.empty())
    throw probe_error("held_out", "leaves no training or no held-out prompt");

  at::NoGradGuard no_grad;
  RidgeStats stats(model.config().d_model, p.classes ? 2 * column : 2);
  for (size_t i = 0; i < split.train.size(); ++i)
    stats.add(features(model, p.prompts[split.train[i]], fits),
              targets(p, classes, split.train[i], split.shuffled[i]));
  const at::Tensor scores =
      held_out_scores(model, p, fits, split.held_out, classes, stats.solve(p.l2));

  std::vector<float> out;
  const GridAxis& quantity = axes.back();
  for (int64_t cell = begin; cell < end; ++cell) {
    const int64_t q = quantity.values[cell % quantity.size()];
    if (q != static_cast<int64_t>(ProbeQuantity::Score) &&
        q != static_cast<int64_t>(ProbeQuantity::Control))
      throw probe_error("quantities", "unknown quantity " + std::to_string(q));
    out.push_back(scores[cell / quantity.size()][q].item<float>());
  }
  return out;
}

const KindCellsRegistration probe_registration("probe", probe_cells);

}  // namespace

RidgeStats::RidgeStats(int64_t d, int64_t targets) : d_(d), targets_(targets) {}

void RidgeStats::add(const at::Tensor& x, const at::Tensor& y) {
  const int64_t fits = x.size(0);
  const at::Tensor xb =
      at::cat({x.to(at::kDouble), at::ones({fits, 1}, at::kDouble)}, 1).unsqueeze(2);
  const at::Tensor yb = y.to(at::kDouble).expand({fits, targets_}).unsqueeze(1);
  if (!xtx_.defined()) {
    xtx_ = at::zeros({fits, d_ + 1, d_ + 1}, at::kDouble);
    xty_ = at::zeros({fits, d_ + 1, targets_}, at::kDouble);
  }
  xtx_.baddbmm_(xb, xb.transpose(1, 2));
  xty_.baddbmm_(xb, yb);
  ++n_;
}

at::Tensor RidgeStats::solve(double l2) const {
  if (n_ == 0) throw probe_error("prompts", "no training example");
  const auto n = static_cast<double>(n_);
  const at::Tensor sxx = xtx_.narrow(1, 0, d_).narrow(2, 0, d_);
  const at::Tensor sx = xtx_.narrow(1, 0, d_).select(2, d_);  // [fits, d]
  const at::Tensor raw = sxx.diagonal(0, 1, 2).sum(1);        // tr(Sxx)
  const at::Tensor centred = raw - sx.square().sum(1) / n;    // n · Σ variances
  const at::Tensor lambda = (l2 * centred + 1e-9 * raw) / static_cast<double>(d_);  // [fits]
  at::Tensor penalty = at::ones({d_ + 1}, at::kDouble);
  penalty[d_] = 0.0;  // the bias is not penalised
  const at::Tensor a = xtx_ + at::diag_embed(lambda.unsqueeze(1) * penalty);
  return at::linalg_solve(a, xty_);
}

ProbeSplit probe_split(int64_t n, double held_out, uint64_t seed) {
  // Fisher–Yates over mt19937_64 (a fixed algorithm): the same split on every platform.
  std::mt19937_64 rng(seed);
  auto shuffle = [&rng](std::vector<int64_t>& v) {
    for (size_t i = v.size(); i > 1; --i) std::swap(v[i - 1], v[rng() % i]);
  };
  std::vector<int64_t> order(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) order[static_cast<size_t>(i)] = i;
  shuffle(order);
  const auto held = static_cast<int64_t>(held_out * static_cast<double>(n) + 0.5);
  ProbeSplit s;
  s.held_out.assign(order.begin(), order.begin() + std::clamp<int64_t>(held, 0, n));
  s.train.assign(order.begin() + std::clamp<int64_t>(held, 0, n), order.end());
  s.shuffled = s.train;
  shuffle(s.shuffled);
  return s;
}

}  // namespace csweep::analyses
