// Edge attribution (EAP, EAP-IG) against plain references over the registry's own
// grid (jobs/kinds/edge_attribution.cpp's labels and values):
//  - each edge's EAP score is the derivative of the metric when only that edge's receiver input
//    gets eps x (corrupted - clean) of its sender, everything else clean (autograd through
//    that one patched run);
//  - EAP-IG's is the mean of that derivative over runs whose input is interpolated;
//  - the edges into the logits add up to AtP's estimate for the final residual stream;
//  - the edges out of the embedding add up (IG's completeness) to metric(corrupted) -
//    metric(clean), closer as ig_steps grows.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>

#include <ATen/core/grad_mode.h>
#include <gtest/gtest.h>

#include "jobs/kinds/kind_options.h"
#include "jobs/kinds/kind_registry.h"
#include "random_models.h"
#include "tests/analyses/grid_axes.h"
#include "tests/analyses/request_grid.h"
#include "tests/jobs/job_test_util.h"

namespace csweep::analyses {
namespace {

using model::HookPoint;
using model::HookSite;

std::vector<std::pair<std::string, std::shared_ptr<model::Model>>> models() {
  return {{"gpt2", testing::load_fixture_gpt2()},
          {"neox", testing::random_neox(3)},
          {"llama", testing::random_llama(4)},
          {"mistral", testing::random_mistral(5)},
          {"qwen3", testing::random_qwen3(6)}};
}

// The registry's grid for `model` with `ig_steps` (1: method eap).
GridAxis edge_axis(const model::ModelConfig& c, int64_t ig_steps) {
  jobs::AnalysisSpec a;
  a.kind = &jobs::kind("edge_attribution");
  auto o = std::make_shared<jobs::EdgeAttributionOptions>();
  o->method = ig_steps == 1 ? "eap" : "eap_ig";
  o->ig_steps = ig_steps;
  o->layers = c.n_layers;
  o->heads = c.n_heads;
  o->kv_heads = c.n_kv_heads;
  o->parallel_residual = c.parallel_residual;
  a.options = o;
  const jobs::Axis axis = a.kind->grid(a).at(0);
  return GridAxis{axis.name, axis.values, axis.labels};
}

SweepRequest edge_request(const model::Model& m, int64_t ig_steps) {
  SweepRequest r = testing::prompt_pair_request(m, "edge_attribution", HookPoint::ResidPre);
  r.ig_steps = ig_steps;
  return r;
}

// Every edge's cells of `m` on the prompt pair with `ig_steps`, over the registry's grid.
struct EdgeCells {
  SweepRequest request;
  GridAxis axis;
  std::vector<float> cells;
};
EdgeCells edge_cells(const model::Model& m, int64_t ig_steps, CacheStore& caches) {
  EdgeCells out{edge_request(m, ig_steps), edge_axis(m.config(), ig_steps), {}};
  out.cells = run_cells(m, out.request, {out.axis}, 0, out.axis.size(), caches);
  return out;
}

// One endpoint of an edge label: "embed", "a1.h3" / "a1.h3.q", "m1", "logits".
struct Endpoint {
  char what = 'e';  // e(mbed), a(ttention head), m(lp), l(ogits)
  int64_t layer = -1, head = -1;
  HookPoint input = HookPoint::AttnQ;
};

Endpoint parse_endpoint(const std::string& s) {
  Endpoint e;
  if (s == "embed" || s == "logits") {
    e.what = s[0];
    return e;
  }
  char input = 0;
  e.what = s[0];
  if (e.what == 'm') {
    e.layer = std::stoll(s.substr(1));
    return e;
  }
  EXPECT_GE(std::sscanf(s.c_str(), "a%ld.h%ld.%c", &e.layer, &e.head, &input), 2) << s;
  e.input = input == 'k' ? HookPoint::AttnK : input == 'v' ? HookPoint::AttnV : HookPoint::AttnQ;
  return e;
}

// The plain reference: whole forwards with hooks, nothing from analyses/.
struct Reference {
  const model::Model& m;
  at::Tensor clean, corrupted;  // [1, p]
  int64_t answer, wrong;
  std::map<HookSite, at::Tensor> clean_acts, corrupted_acts;
  mutable std::map<double, std::map<HookSite, at::Tensor>> runs;  // per input alpha

  Reference(const model::Model& model, const SweepRequest& r)
      : m(model),
        clean(at::tensor(r.clean_tokens).view({1, -1})),
        corrupted(at::tensor(r.corrupted_tokens).view({1, -1})),
        answer(r.answers[0].answer),
        wrong(r.answers[0].wrong) {
    clean_acts = cached(clean, {});
    corrupted_acts = cached(corrupted, {});
  }

  std::map<HookSite, at::Tensor> cached(const at::Tensor& tokens, model::Hooks hooks) const {
    hooks.cache_all([](const HookSite&) { return true; });
    m.forward(tokens, &hooks);
    return hooks.cache();
  }
  at::Tensor metric(const at::Tensor& logits) const {
    return logits[0][-1][answer] - logits[0][-1][wrong];
  }
  // The input interpolated from the corrupted (0) to the clean (1) prompt.
  void interpolate(model::Hooks& hooks, double alpha) const {
    if (alpha >= 1.0) return;
    const HookSite x{HookPoint::ResidPre, 0};
    const at::Tensor a = corrupted_acts.at(x) + alpha * (clean_acts.at(x) - corrupted_acts.at(x));
    hooks.add(x, model::replace_with(a, {}));
  }
  at::Tensor block(int64_t l, const at::Tensor& resid, model::Hooks hooks, HookSite want) const {
    return testing::block_activation(m, l, resid, std::move(hooks), want);
  }
  // corrupted - clean of the sender, as it enters the residual stream: [1, p, d_model].
  at::Tensor sender_difference(const Endpoint& u) const {
    auto diff = [&](HookSite s) { return corrupted_acts.at(s) - clean_acts.at(s); };
    if (u.what == 'e') return diff({HookPoint::ResidPre, 0});
    if (u.what == 'm') return diff({HookPoint::MlpOut, u.layer});
    // One head's z corrupted in the clean block: attn_out moves by exactly that head's output.
    model::Hooks hooks;
    hooks.add(
        {HookPoint::AttnZ, u.layer},
        model::replace_with(corrupted_acts.at({HookPoint::AttnZ, u.layer}), {{}, {}, {u.head}}));
    const HookSite out{HookPoint::AttnOut, u.layer};
    return block(u.layer, clean_acts.at({HookPoint::ResidPre, u.layer}), hooks, out) -
           clean_acts.at(out);
  }
  // The run with input `alpha`, cached.
  const std::map<HookSite, at::Tensor>& run_at(double alpha) const {
    if (!runs.count(alpha)) {
      model::Hooks base;
      interpolate(base, alpha);
      runs[alpha] = cached(clean, base);
    }
    return runs.at(alpha);
  }
  // The metric with only v's input moved by `delta`, on the run with input `alpha`.
  at::Tensor patched(const Endpoint& v, const at::Tensor& delta, double alpha) const {
    const auto& run = run_at(alpha);
    model::Hooks hooks;
    interpolate(hooks, alpha);
    if (v.what == 'l') {
      hooks.add({HookPoint::ResidPost, m.config().n_layers - 1}, model::add_to(delta, {}));
    } else {
      const at::Tensor x = run.at({HookPoint::ResidPre, v.layer});
      model::Hooks inner;
      HookSite site{v.input, v.layer};
      std::vector<int64_t> heads{v.head};
      if (v.what == 'm') {  // the MLP's input alone: resid_mid, or resid_pre when parallel
        site = {HookPoint::MlpOut, v.layer};
        heads.clear();
        if (!m.config().parallel_residual)
          inner.add({HookPoint::ResidMid, v.layer}, model::add_to(delta, {}));
      }
      const at::Tensor moved = block(
          v.layer, m.config().parallel_residual || v.what != 'm' ? x + delta : x, inner, site);
      hooks.add(site, model::replace_with(moved, {{}, {}, heads}));
    }
    return metric(m.forward(clean, &hooks));
  }
  // d metric / d eps with v's input + eps (corrupted - clean of u), by autograd through the
  // patched run (the model's norms compute in float32, so a float64 finite difference is not
  // available; this is its limit).
  double derivative(const std::string& label, double alpha) const {
    const size_t arrow = label.find("->");
    const Endpoint u = parse_endpoint(label.substr(0, arrow));
    const Endpoint v = parse_endpoint(label.substr(arrow + 2));
    const at::Tensor d = sender_difference(u);
    run_at(alpha);
    c10::AutoGradMode grad_on(true);
    const at::Tensor eps = at::zeros({}, d.options()).requires_grad_(true);
    patched(v, eps * d, alpha).backward();
    return eps.grad().item<double>();
  }
};

TEST(EdgeAttribution, EapIsEachEdgesDirectionalDerivative) {
  for (const auto& [name, m] : models()) {
    CacheStore caches;
    const auto [r, axis, cells] = edge_cells(*m, 1, caches);
    const Reference ref(*m, r);
    double worst = 0.0, largest = 0.0;
    // Half the edges of one model, a quarter of the others'.
    const int64_t stride = name == "gpt2" ? 2 : 4;
    for (int64_t i = 0; i < axis.size(); i += stride) {
      const double want = ref.derivative(axis.labels[i], 1.0);
      worst = std::max(worst, std::abs(cells[i] - want));
      largest = std::max(largest, std::abs(want));
      EXPECT_NEAR(cells[i], want, 1e-4 * (1.0 + std::abs(want))) << name << " " << axis.labels[i];
    }
    std::printf(
        "[eap] %-8s %4ld edges (every %ld checked), max |score| %.3g, max |EAP - "
        "derivative| %.2g\n",
        name.c_str(), static_cast<long>(axis.size()), static_cast<long>(stride), largest, worst);
  }
}

TEST(EdgeAttribution, IgIsTheMeanDerivativeAlongTheInputPath) {
  for (const auto& [name, m] : models()) {
    if (name != "gpt2" && name != "qwen3") continue;  // one LayerNorm, one RMSNorm + q/k norm
    const int64_t steps = 3;
    CacheStore caches;
    const auto [r, axis, cells] = edge_cells(*m, steps, caches);
    const Reference ref(*m, r);
    for (int64_t i = 0; i < axis.size(); i += 11) {
      double want = 0.0;
      for (int64_t k = 1; k <= steps; ++k)
        want += ref.derivative(axis.labels[i], double(k) / double(steps)) / double(steps);
      EXPECT_NEAR(cells[i], want, 1e-4 * (1.0 + std::abs(want))) << name << " " << axis.labels[i];
    }
  }
}

double sum_where(const GridAxis& axis, const std::vector<float>& cells,
                 bool (*keep)(const std::string&)) {
  double sum = 0.0;
  for (int64_t i = 0; i < axis.size(); ++i)
    if (keep(axis.labels[i])) sum += cells[i];
  return sum;
}

TEST(EdgeAttribution, EdgesIntoTheLogitsAddUpToAtpOfTheFinalResidual) {
  for (const auto& [name, m] : models()) {
    CacheStore caches;
    const auto [r, axis, cells] = edge_cells(*m, 1, caches);
    const double edges = sum_where(axis, cells, [](const std::string& l) {
      return l.size() > 8 && l.compare(l.size() - 8, 8, "->logits") == 0;
    });
    SweepRequest atp = r;
    atp.kind = "attribution_patching";
    atp.point = HookPoint::ResidPost;
    atp.layers = {m->config().n_layers - 1};
    atp.by_position = false;
    atp.direction = Direction::Noising;  // the clean run is the target
    const double estimate =
        run_cells(*m, atp, 0, 1, caches).at(0) - baselines(*m, atp, caches).clean;
    EXPECT_NEAR(edges, estimate, 1e-4 * (1.0 + std::abs(estimate))) << name;
    EXPECT_GT(std::abs(estimate), 1e-3) << name << ": the corruption must move the metric";
  }
}

TEST(EdgeAttribution, IgOnEmbeddingEdgesConvergesToTheWholeCorruption) {
  const auto m = testing::load_fixture_gpt2();
  const Reference ref(*m, edge_request(*m, 1));
  const double whole =
      (ref.metric(m->forward(ref.corrupted)) - ref.metric(m->forward(ref.clean))).item<double>();
  double previous = 1e300;
  for (int64_t steps : {1, 3, 9, 27}) {
    CacheStore caches;
    const auto [r, axis, cells] = edge_cells(*m, steps, caches);
    const double sum =
        sum_where(axis, cells, [](const std::string& l) { return l.rfind("embed->", 0) == 0; });
    const double error = std::abs(sum - whole);
    std::printf(
        "[eap-ig] ig_steps %2ld: sum over embed edges %.5f, metric(corrupted) - "
        "metric(clean) %.5f, |error| %.2g\n",
        static_cast<long>(steps), sum, whole, error);
    EXPECT_LT(error, previous) << steps;
    previous = error;
  }
  EXPECT_LT(previous, 0.02 * std::abs(whole));
}

TEST(EdgeAttribution, ShardsOfAPromptShareOnePass) {
  const auto m = testing::random_llama(8);
  CacheStore caches;
  const auto [r, axis, whole] = edge_cells(*m, 2, caches);
  const int64_t forwards = caches.forwards();
  const auto tail = run_cells(*m, r, {axis}, axis.size() / 2, axis.size(), caches);
  EXPECT_EQ(caches.forwards(), forwards);
  for (int64_t i = axis.size() / 2; i < axis.size(); ++i)
    EXPECT_EQ(whole[i], tail[i - axis.size() / 2]);
}

TEST(EdgeAttribution, JobFileErrorsNameTheField) {
  using jobs::testing::analysis_error_at;
  using jobs::testing::analysis_job;
  using jobs::testing::parse_error;
  const std::string eap = "  - {name: e, kind: edge_attribution, method: eap, ig_steps: 3}";
  EXPECT_EQ(parse_error(analysis_job(eap)),
            analysis_error_at(eap, "3}", "analyses[0].ig_steps: only method eap_ig integrates"));
  const std::string zero = "  - {name: e, kind: edge_attribution, ig_steps: 0}";
  EXPECT_EQ(parse_error(analysis_job(zero)),
            analysis_error_at(zero, "0}", "analyses[0].ig_steps: must be at least 1"));
  const std::string method = "  - {name: e, kind: edge_attribution, method: eap-ig}";
  EXPECT_NE(parse_error(analysis_job(method)).find("analyses[0].method:"), std::string::npos);
  const std::string layers = "  - {name: e, kind: edge_attribution, layers: [1]}";
  EXPECT_EQ(parse_error(analysis_job(layers)),
            analysis_error_at(layers, "[1]",
                              "analyses[0].layers: edge_attribution scores every edge of every "
                              "layer"));
  const jobs::JobSpec spec = jobs::parse_job_spec(
      analysis_job("  - {name: e, kind: edge_attribution}"), jobs::testing::job_path());
  const auto& o = spec.analyses.at(0).options_as<jobs::EdgeAttributionOptions>();
  EXPECT_EQ(o.method, "eap_ig");
  EXPECT_EQ(o.ig_steps, 5);
}

}  // namespace
}  // namespace csweep::analyses
