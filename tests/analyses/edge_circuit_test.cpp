// circuit_faithfulness over edges (universe edges) against a plain reference written here: per
// circuit, block by block, each receiver's input rebuilt edge by edge (sender by sender: its
// output in this run if the edge is kept, else its corrupted / mean / zero output) and run
// through that block alone, one forward per receiver. On the GPT-2 fixture and the random
// NeoX (parallel), Llama (GQA) and Qwen3 (q/k norm) models. Identities: the empty circuit is the
// corrupted run, the full one the clean run, every circuit is the clean run when the corrupted
// prompt is the clean one, and a circuit of heads is the circuit of the edges out of them (and
// out of the embedding and every MLP).
#include <gtest/gtest.h>

#include <ATen/core/grad_mode.h>

#include <algorithm>
#include <cstdio>
#include <set>
#include <utility>

#include "analyses/sweep.h"
#include "jobs/kinds/kind_options.h"
#include "tests/analyses/grid_axes.h"
#include "tests/analyses/random_models.h"

namespace csweep::analyses::testing {
namespace {

using model::HookPoint;
using model::HookSite;
using Ablation = SweepRequest::CircuitAblation;

// The model's edges as the registry numbers them (sender * receivers + receiver).
std::vector<int64_t> every_edge(const model::Model& m) {
  return jobs::model_edges(m.config()).values;
}

// Senders and receivers as the registry numbers them (docs/analyses.md, Edge attribution).
struct Numbering {
  int64_t heads, kv, per_layer, receivers;
  explicit Numbering(const model::ModelConfig& c)
      : heads(c.n_heads),
        kv(c.n_kv_heads),
        per_layer(c.n_heads + 2 * c.n_kv_heads + 1),
        receivers(c.n_layers * per_layer + 1) {}
  int64_t head(int64_t l, int64_t h) const { return 1 + l * (heads + 1) + h; }
  int64_t mlp(int64_t l) const { return 1 + l * (heads + 1) + heads; }
};

// Every sender's output of one run with `ids` ([1, p, d] each): the embedding, each head's z
// through its columns of W_O, each MLP's output.
std::vector<at::Tensor> sender_outputs(const model::Model& m, const std::vector<int64_t>& ids) {
  const auto& c = m.config();
  model::Hooks hooks;
  hooks.cache({HookPoint::ResidPre, 0});
  for (int64_t l = 0; l < c.n_layers; ++l) {
    hooks.cache({HookPoint::AttnZ, l});
    hooks.cache({HookPoint::MlpOut, l});
  }
  m.forward(tokens_of(ids), &hooks);
  const auto acts = hooks.cache();
  std::vector<at::Tensor> out{acts.at({HookPoint::ResidPre, 0})};
  for (int64_t l = 0; l < c.n_layers; ++l) {
    const at::Tensor z = acts.at({HookPoint::AttnZ, l});
    for (int64_t h = 0; h < c.n_heads; ++h) {
      const at::Tensor w = m.weights().layers[l].W_O.narrow(1, h * c.d_head, c.d_head);
      out.push_back(at::matmul(z.select(2, h), w.t()));
    }
    out.push_back(acts.at({HookPoint::MlpOut, l}));
  }
  return out;
}

struct Reference {
  const model::Model& m;
  const SweepRequest& r;
  Numbering n;
  std::map<HookSite, at::Tensor> clean;  // resid_pre of every block (what q, k, v replace)
  std::vector<at::Tensor> clean_out, ablated;

  Reference(const model::Model& model, const SweepRequest& request)
      : m(model), r(request), n(model.config()) {
    model::Hooks hooks;
    for (int64_t l = 0; l < m.config().n_layers; ++l) hooks.cache({HookPoint::ResidPre, l});
    m.forward(tokens_of(r.clean_tokens), &hooks);
    clean = hooks.cache();
    clean_out = sender_outputs(m, r.clean_tokens);
    if (r.circuit.ablation == Ablation::Patch) ablated = sender_outputs(m, r.corrupted_tokens);
    for (size_t s = 0; s < clean_out.size() && r.circuit.ablation != Ablation::Patch; ++s) {
      at::Tensor sum = at::zeros_like(clean_out[s].mean(1, true));
      for (const auto& ids : r.reference_prompts) sum += sender_outputs(m, ids)[s].mean(1, true);
      ablated.push_back(r.circuit.ablation == Ablation::Zero
                            ? at::zeros_like(sum)
                            : sum / static_cast<double>(r.reference_prompts.size()));
    }
  }

  at::Tensor block(int64_t l, const at::Tensor& resid, model::Hooks hooks, HookSite want) const {
    return block_activation(m, l, resid, std::move(hooks), want);
  }

  float cell(int64_t size) const {
    const auto& c = m.config();
    std::set<int64_t> kept(
        r.circuit.edges.begin(),
        r.circuit.edges.begin() + std::min<int64_t>(size, std::ssize(r.circuit.edges)));
    const std::vector<int64_t> all = every_edge(m);
    if (size >= std::ssize(all)) kept.insert(all.begin(), all.end());
    std::vector<at::Tensor> live = clean_out;
    // Receiver v's input: the biases of the attention outputs before it, then its senders'
    // outputs, edge by edge: the kept ones' (live) or the ablated ones'.
    auto input = [&](int64_t v, int64_t bias_layers, int64_t senders) {
      at::Tensor x = at::zeros_like(clean_out[0]);
      for (int64_t l = 0; l < bias_layers; ++l)
        if (m.weights().layers[l].b_O.defined()) x += m.weights().layers[l].b_O;
      for (int64_t s = 0; s < senders; ++s)
        x += kept.count(s * n.receivers + v) ? live[s] : ablated[s];
      return x;
    };
    for (int64_t l = 0; l < c.n_layers; ++l) {
      const at::Tensor pre = clean.at({HookPoint::ResidPre, l});
      const int64_t first = l * n.per_layer, before = n.head(l, 0);
      model::Hooks qkv;  // each head's q, k, v from a forward of its own input
      auto own = [&](HookPoint p, int64_t row, int64_t count) {
        for (int64_t h = 0; h < count; ++h) {
          const at::Tensor x = input(first + row + h, l, before);
          const at::Tensor act = block(l, x, {}, {p, l}).select(2, h);
          qkv.add({p, l}, [act, h](at::Tensor& a, const HookSite&) {
            a = a.clone();
            a.select(2, h).copy_(act);
          });
        }
      };
      own(HookPoint::AttnQ, 0, c.n_heads);
      own(HookPoint::AttnK, c.n_heads, c.n_kv_heads);
      own(HookPoint::AttnV, c.n_heads + c.n_kv_heads, c.n_kv_heads);
      const at::Tensor z = block(l, pre, qkv, {HookPoint::AttnZ, l});
      for (int64_t h = 0; h < c.n_heads; ++h) {
        const at::Tensor w = m.weights().layers[l].W_O.narrow(1, h * c.d_head, c.d_head);
        live[n.head(l, h)] = at::matmul(z.select(2, h), w.t());
      }
      const int64_t mlp_receiver = first + n.per_layer - 1;
      if (c.parallel_residual) {
        live[n.mlp(l)] = block(l, input(mlp_receiver, l, before), {}, {HookPoint::MlpOut, l});
      } else {
        const at::Tensor mid = input(mlp_receiver, l + 1, before + c.n_heads);
        model::Hooks hooks = qkv;
        hooks.add({HookPoint::ResidMid, l}, model::replace_with(mid, {}));
        live[n.mlp(l)] = block(l, pre, hooks, {HookPoint::MlpOut, l});
      }
    }
    const at::Tensor last = input(n.receivers - 1, c.n_layers, static_cast<int64_t>(live.size()));
    model::ForwardOptions o;
    o.start_layer = c.n_layers;
    o.start_resid = last;
    return logit_diff(m.forward(at::Tensor(), nullptr, o), r);
  }
};

// A ranked list of edges of every kind (into q, k, v, the MLPs and the logits), deterministic.
SweepRequest edge_request(const model::Model& m, Ablation ablation) {
  SweepRequest r = prompt_pair_request(m, "circuit_faithfulness", HookPoint::AttnZ);
  r.circuit.over_edges = true;
  r.circuit.ablation = ablation;
  const std::vector<int64_t> all = every_edge(m);
  for (size_t i = 0; i < all.size(); i += 3) r.circuit.edges.push_back(all[(i * 7) % all.size()]);
  std::sort(r.circuit.edges.begin(), r.circuit.edges.end());
  r.circuit.edges.erase(std::unique(r.circuit.edges.begin(), r.circuit.edges.end()),
                        r.circuit.edges.end());
  std::reverse(r.circuit.edges.begin(), r.circuit.edges.end());  // the logits' edges first
  r.reference_prompts = {r.clean_tokens, r.corrupted_tokens};
  return r;
}

GridAxis sizes(const model::Model& m, const SweepRequest& r) {
  const int64_t listed = std::ssize(r.circuit.edges);
  return {"size", {0, 1, 4, listed / 2, listed, std::ssize(every_edge(m))}, {}};
}

void expect_matches_reference(const model::Model& m, const SweepRequest& r, const char* what) {
  SCOPED_TRACE(what);
  at::NoGradGuard no_grad;
  const std::vector<GridAxis> axes{sizes(m, r)};
  CacheStore caches(8);
  const std::vector<float> cells = run_cells(m, r, axes, 0, grid_cells(axes), caches);
  ASSERT_EQ(cells.size(), axes[0].values.size());
  const Reference ref(m, r);
  float max_diff = 0.0f, spread = 0.0f;
  for (size_t i = 0; i < cells.size(); ++i) {
    const float want = ref.cell(axes[0].values[i]);
    EXPECT_NEAR(cells[i], want, 2e-5f * std::max(1.0f, std::abs(want)))
        << "size " << axes[0].values[i];
    max_diff = std::max(max_diff, std::abs(cells[i] - want));
    spread = std::max(spread, std::abs(cells[i] - cells.back()));
  }
  std::printf("[ edge circuit ] %s: max |cell - reference| %.3g over %zu sizes (%zu edges)\n", what,
              static_cast<double>(max_diff), cells.size(), every_edge(m).size());
  EXPECT_GT(spread, 1e-3f);  // the circuits differ from the full model
  const std::vector<float> part = run_cells(m, r, axes, 2, grid_cells(axes), caches);
  for (size_t i = 0; i < part.size(); ++i) EXPECT_NEAR(part[i], cells[i + 2], 1e-5);
}

std::vector<std::pair<const char*, std::shared_ptr<model::Model>>> models() {
  return {{"gpt2", load_fixture_gpt2()},
          {"neox", random_neox(3)},
          {"llama (GQA)", random_llama(4)},
          {"qwen3", random_qwen3(5)}};
}

TEST(EdgeCircuit, CellsMatchAReceiverByReceiverReference) {
  for (const auto& [name, m] : models()) {
    SCOPED_TRACE(name);
    expect_matches_reference(*m, edge_request(*m, Ablation::Patch), "patch");
    expect_matches_reference(*m, edge_request(*m, Ablation::Mean), "mean");
    expect_matches_reference(*m, edge_request(*m, Ablation::Zero), "zero");
  }
}

// f is 0 at the empty circuit and 1 at the full one: m(empty) is the corrupted run and m(N) the
// clean one; with the clean prompt as the corrupted one every circuit is the clean run.
TEST(EdgeCircuit, EmptyIsTheCorruptedRunAndFullTheClean) {
  for (const auto& [name, m] : models()) {
    SCOPED_TRACE(name);
    at::NoGradGuard no_grad;
    SweepRequest r = edge_request(*m, Ablation::Patch);
    const std::vector<GridAxis> axes{sizes(*m, r)};
    CacheStore caches(8);
    const std::vector<float> cells = run_cells(*m, r, axes, 0, grid_cells(axes), caches);
    const float corrupted = logit_diff(m->forward(tokens_of(r.corrupted_tokens)), r);
    const float clean = logit_diff(m->forward(tokens_of(r.clean_tokens)), r);
    EXPECT_NEAR(cells.front(), corrupted, 1e-4f * std::max(1.0f, std::abs(corrupted)));
    EXPECT_NEAR(cells.back(), clean, 1e-5f * std::max(1.0f, std::abs(clean)));
    EXPECT_GT(std::abs(clean - corrupted), 1e-3f);
    r.corrupted_tokens = r.clean_tokens;
    r.circuit.edges = {r.circuit.edges.begin(), r.circuit.edges.begin() + 3};
    CacheStore fresh(8);
    for (float v : run_cells(*m, r, axes, 0, grid_cells(axes), fresh))
      EXPECT_NEAR(v, clean, 1e-4f * std::max(1.0f, std::abs(clean)));
  }
}

// A circuit of heads (universe heads, the other heads ablated) is the circuit of the edges whose
// sender is one of its heads, the embedding or an MLP.
TEST(EdgeCircuit, AHeadCircuitIsTheCircuitOfTheEdgesOutOfItsHeads) {
  for (const auto& [name, m] : models()) {
    SCOPED_TRACE(name);
    at::NoGradGuard no_grad;
    const auto& c = m->config();
    const Numbering n(c);
    for (Ablation ablation : {Ablation::Patch, Ablation::Mean}) {
      SweepRequest heads = prompt_pair_request(*m, "circuit_faithfulness", HookPoint::AttnZ);
      heads.circuit.ablation = ablation;
      heads.reference_prompts = {heads.clean_tokens, heads.corrupted_tokens};
      heads.circuit.ranked = {{HookPoint::AttnZ, c.n_layers - 1, 1, -1},
                              {HookPoint::AttnZ, 0, 0, -1}};
      std::set<int64_t> senders{0};
      for (const auto& x : heads.circuit.ranked) senders.insert(n.head(x.layer, x.head));
      for (int64_t l = 0; l < c.n_layers; ++l) senders.insert(n.mlp(l));
      SweepRequest edges = heads;
      edges.circuit.ranked.clear();
      edges.circuit.over_edges = true;
      for (int64_t e : every_edge(*m))
        if (senders.count(e / n.receivers)) edges.circuit.edges.push_back(e);
      CacheStore caches(8);
      const std::vector<GridAxis> by_head{{"size", {2}, {}}};
      const std::vector<GridAxis> by_edge{{"size", {std::ssize(edges.circuit.edges)}, {}}};
      const float want = run_cells(*m, heads, by_head, 0, 1, caches)[0];
      const float got = run_cells(*m, edges, by_edge, 0, 1, caches)[0];
      std::printf("[ edge circuit ] %s: heads circuit %.6f, its edges %.6f (|diff| %.3g)\n", name,
                  static_cast<double>(want), static_cast<double>(got),
                  static_cast<double>(std::abs(want - got)));
      EXPECT_NEAR(got, want, 1e-5f * std::max(1.0f, std::abs(want)));
    }
  }
}

TEST(EdgeCircuit, BadRequestsAreOneLineErrorsNamingTheField) {
  const auto m = random_llama(4);
  CacheStore caches(4);
  const std::vector<GridAxis> axes{{"size", {0, 1}, {}}};
  auto message = [&](const SweepRequest& r) { return cells_error(*m, r, axes, caches); };
  SweepRequest r = edge_request(*m, Ablation::Patch);
  r.circuit.edges.push_back(r.circuit.edges.front());
  EXPECT_NE(message(r).find("circuit_faithfulness.edges["), std::string::npos) << message(r);
  EXPECT_NE(message(r).find("listed twice"), std::string::npos) << message(r);
  r = edge_request(*m, Ablation::Patch);
  r.circuit.edges.push_back(0);  // embed -> a0.h0.q is an edge; its reverse is not
  r.circuit.edges.back() = 1 * Numbering(m->config()).receivers + 0;  // a0.h0 -> a0.h0.q
  EXPECT_NE(message(r).find("is not an edge of this model"), std::string::npos) << message(r);
}

}  // namespace
}  // namespace csweep::analyses::testing
