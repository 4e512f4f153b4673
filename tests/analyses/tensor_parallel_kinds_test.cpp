// Every analysis kind under tensor parallelism (docs/tensor-parallel.md): a group of T ranks
// (threads on the in-process collective) loads its slices of an architecture fixture, applies
// TransformerLens's weight processing, and calls run_cells and baselines exactly as the worker
// does, in lockstep; each rank's cells and baselines must be what the one-process model gives,
// within 1e-5 (fp32; one part in 10^6 above magnitude 10, as the model's own TP tests).
#include <gtest/gtest.h>

#include <exception>
#include <set>
#include <thread>

#include "analyses/sweep.h"
#include "analyses/weight_processing.h"
#include "jobs/kinds/kind_registry.h"
#include "model/in_process_collective.h"
#include "tests/model/reference/model_test_util.h"
#include "tests/model/tp_checks.h"

namespace csweep::analyses {
namespace {

using model::HookPoint;
namespace fs = std::filesystem;

struct Case {
  std::string name;
  SweepRequest request;
  std::vector<GridAxis> axes;  // empty: grid_axes(request)
};

GridAxis index_axis(const char* name, int64_t n) {
  GridAxis a{name, {}, {}};
  for (int64_t i = 0; i < n; ++i) a.values.push_back(i);
  return a;
}

// GPT-2 (learned positions), NeoX (parallel residual), Llama with 2 and with 1 KV heads (fewer
// than 4 ranks: replicated), Qwen2 (q/k/v biases, so b_V is folded into b_O), Qwen3 (q/k norms).
std::vector<fs::path> fixtures() {
  std::vector<fs::path> dirs{model::testing::gpt2_fixture()};
  for (const char* v : {"neox_parallel", "llama_gqa_llama3_tied", "llama_untied", "qwen2", "qwen3"})
    dirs.push_back(model::testing::arch_fixtures() / v);
  return dirs;
}

// One request per kind and variant: several sites, query and KV heads, neurons, every
// ablation mode, both directions, the weight kinds' processing variants.
std::vector<Case> cases(const model::ModelConfig& c, const std::vector<int64_t>& clean) {
  SweepRequest base;
  base.clean_tokens = clean;
  base.corrupted_tokens = clean;
  base.corrupted_tokens[2] = (clean[2] + 5) % c.d_vocab;
  base.corrupted_tokens[5] = (clean[5] + 11) % c.d_vocab;
  base.answers = {{13, 29}, {41, 8}};
  base.seed = 7;
  const std::vector<std::vector<int64_t>> reference = {
      base.corrupted_tokens, std::vector<int64_t>(clean.rbegin(), clean.rend())};
  std::vector<Case> out;
  auto add = [&](const std::string& name, auto&& edit) {
    Case k{name, base, {}};
    edit(k.request);
    out.push_back(std::move(k));
  };
  add("patching resid_pre", [](SweepRequest& r) { r.point = HookPoint::ResidPre; });
  add("patching z+q", [](SweepRequest& r) { r.sites = {HookPoint::AttnZ, HookPoint::AttnQ}; });
  add("patching k+v all positions", [](SweepRequest& r) {
    r.sites = {HookPoint::AttnK, HookPoint::AttnV};
    r.by_position = false;
  });
  add("patching pattern", [](SweepRequest& r) { r.point = HookPoint::AttnPattern; });
  add("patching attn_out+mlp_out", [](SweepRequest& r) {
    r.sites = {HookPoint::AttnOut, HookPoint::MlpOut};
  });
  add("patching neurons", [&](SweepRequest& r) {
    r.point = HookPoint::MlpPost;
    r.neurons = {0, 5, c.d_mlp / 2 + 3, c.d_mlp - 1};
  });
  add("patching z noising", [](SweepRequest& r) {
    r.point = HookPoint::AttnZ;
    r.direction = Direction::Noising;
    r.by_position = false;
  });
  for (AblationMode mode : {AblationMode::Zero, AblationMode::Mean, AblationMode::Resample}) {
    const std::string m = mode == AblationMode::Zero   ? "zero"
                          : mode == AblationMode::Mean ? "mean"
                                                       : "resample";
    for (HookPoint p : {HookPoint::AttnZ, HookPoint::MlpOut, HookPoint::MlpPost})
      add("ablation " + m + " " + model::point_suffix(p), [&](SweepRequest& r) {
        r.kind = "ablation";
        r.point = p;
        r.ablation = mode;
        r.reference_prompts = reference;
        r.mean_per_position = mode == AblationMode::Mean && p == HookPoint::MlpOut;
        r.by_position = p != HookPoint::MlpOut;
        if (p == HookPoint::MlpPost) r.neurons = {1, c.d_mlp - 2};
      });
  }
  for (HookPoint p : {HookPoint::ResidPost, HookPoint::AttnOut})
    add(std::string("causal_tracing ") + model::point_suffix(p), [&](SweepRequest& r) {
      r.kind = "causal_tracing";
      r.point = p;
      r.subject_positions = {1, 2};
      r.samples = 2;
      r.window = p == HookPoint::ResidPost ? 1 : 2;
    });
  add("logit_lens", [](SweepRequest& r) {
    r.kind = "logit_lens";
    r.lens_values = {LensValue::Prob, LensValue::LogProb, LensValue::Rank, LensValue::LogitDiff,
                     LensValue::TopToken};
  });
  for (HookPoint p : {HookPoint::AttnZ, HookPoint::MlpOut, HookPoint::ResidPost})
    add(std::string("direct_logit_attribution ") + model::point_suffix(p), [&](SweepRequest& r) {
      r.kind = "direct_logit_attribution";
      r.point = p;
    });
  add("attention_scores", [](SweepRequest& r) {
    r.kind = "attention_scores";
    r.pattern_scores = {PatternScore::PreviousToken, PatternScore::DuplicateToken,
                        PatternScore::Induction};
    r.induction_length = 6;
  });
  const GridAxis layers = index_axis("layer", c.n_layers), heads = index_axis("head", c.n_heads);
  out.push_back(
      {"weight_norms", SweepRequest{}, {GridAxis{"quantity", {0, 1}, {}}, layers, heads}});
  // previous_token needs learned positional embeddings (GPT-2's W_pos).
  const GridAxis scores =
      c.arch == model::Arch::Gpt2 ? GridAxis{"score", {0, 1}, {}} : GridAxis{"score", {0}, {}};
  const GridAxis processing{"processing", {0, 1}, {}};
  out.push_back({"head_circuits", SweepRequest{}, {processing, scores, layers, heads}});
  out.push_back(
      {"composition_scores",
       SweepRequest{},
       {processing, GridAxis{"composition", {0, 1, 2}, {}}, index_axis("source_layer", c.n_layers),
        index_axis("source_head", c.n_heads), layers, heads}});
  for (size_t i = out.size() - 3; i < out.size(); ++i) out[i].request.kind = out[i].name;
  // Steering: a file's [d_model] direction at resid_pre; the mean difference of the clean and
  // corrupted prompts at resid_post, normalised, one position at a time.
  const GridAxis scales{"scale", {0, 1, 2}, {}}, quantities{"quantity", {0, 1, 2}, {}};
  SweepRequest steer = base;
  steer.kind = "steering";
  steer.point = HookPoint::ResidPre;
  steer.steering.scales = {-3.0, 0.0, 2.0};
  steer.steering.direction = at::linspace(-1.0, 1.0, c.d_model).cos();
  out.push_back({"steering file resid_pre", steer, {layers, scales, quantities}});
  steer.point = HookPoint::ResidPost;
  steer.steering.direction = at::Tensor();
  steer.steering.plus = {base.clean_tokens, reference[1]};
  steer.steering.minus = {base.corrupted_tokens, base.clean_tokens};
  steer.steering.normalize = true;
  out.push_back({"steering mean difference resid_post",
                 steer,
                 {layers, GridAxis{"pos", {0, 5}, {}}, scales, quantities}});
  return out;
}

// Every case's cells (and baselines, for the kinds that record them) on one model; every rank
// of a group calls this together.
std::map<std::string, at::Tensor> outputs(const model::Model& m, const std::vector<Case>& all) {
  std::map<std::string, at::Tensor> out;
  for (const Case& k : all) {
    CacheStore caches;
    const std::vector<GridAxis> axes = k.axes.empty() ? grid_axes(k.request, m.config()) : k.axes;
    const std::vector<float> cells = run_cells(m, k.request, axes, 0, grid_cells(axes), caches);
    out[k.name] = at::tensor(cells);
    const jobs::Kind& kind = jobs::kind(k.request.kind);
    if (kind.reduce.baselines == jobs::Baselines::None) continue;
    const Baselines b = baselines(m, k.request, caches);
    out[k.name + " baselines"] = at::tensor(std::vector<double>{b.clean, b.corrupted});
  }
  return out;
}

std::shared_ptr<model::Model> processed(const fs::path& dir, model::Collective* group) {
  model::LoadOptions o;
  o.tensor_parallel = group;
  auto m = model::Model::load(dir, o);
  process_weights(*m);  // collective under tensor parallelism (b_V's fold)
  return m;
}

std::vector<std::map<std::string, at::Tensor>> run_group(const fs::path& dir, int T,
                                                         const std::vector<Case>& all) {
  model::InProcessGroup group(T);
  std::vector<std::map<std::string, at::Tensor>> out(static_cast<size_t>(T));
  std::vector<std::string> errors(static_cast<size_t>(T));
  std::vector<std::thread> threads;
  for (int r = 0; r < T; ++r)
    threads.emplace_back([&, r] {
      try {
        out[static_cast<size_t>(r)] = outputs(*processed(dir, &group.rank(r)), all);
      } catch (const std::exception& e) {
        errors[static_cast<size_t>(r)] = e.what();
      }
    });
  for (auto& t : threads) t.join();
  for (int r = 0; r < T; ++r) EXPECT_EQ(errors[static_cast<size_t>(r)], "") << "rank " << r;
  return out;
}

TEST(TensorParallelKinds, EveryKindGivesTheOneProcessCellsAtTwoAndFourRanks) {
  for (const fs::path& dir : fixtures()) {
    SCOPED_TRACE(dir.filename().string());
    const auto one = processed(dir, nullptr);
    const at::Tensor tokens = model::testing::tp_tokens(dir)[0].contiguous();
    const std::vector<Case> all =
        cases(one->config(), std::vector<int64_t>(tokens.data_ptr<int64_t>(),
                                                  tokens.data_ptr<int64_t>() + tokens.numel()));
    const auto want = outputs(*one, all);
    double largest_diff = 0.0;
    for (int T : {2, 4}) {
      const auto got = run_group(dir, T, all);
      for (int r = 0; r < T; ++r) {
        const auto& mine = got[static_cast<size_t>(r)];
        EXPECT_EQ(model::testing::tp_mismatch(want, mine, 1e-5), "") << "T " << T << " rank " << r;
        for (const auto& [name, w] : want)
          if (mine.count(name) && mine.at(name).sizes() == w.sizes())
            largest_diff = std::max(
                largest_diff,
                (mine.at(name).to(at::kDouble) - w.to(at::kDouble)).abs().max().item<double>());
      }
    }
    std::printf("[tp kinds] %-24s %zu cases, cells at T=2,4 vs T=1: max abs diff %.3g\n",
                dir.filename().c_str(), all.size(), largest_diff);
  }
}

// The cases above cover every registered kind but those refused under tensor parallelism: a
// new kind must be added here (and made exact) or declare needs_gradients.
TEST(TensorParallelKinds, CoverEveryKindThatTensorParallelismRuns) {
  const auto config = model::load_model_config(model::testing::gpt2_fixture());
  std::set<std::string> covered;
  for (const Case& k : cases(config, {1, 2, 3, 4, 5, 6, 7, 8})) covered.insert(k.request.kind);
  for (const jobs::Kind* k : jobs::all_kinds())
    EXPECT_NE(covered.count(k->name) == 1, k->needs_gradients) << k->name;
}

}  // namespace
}  // namespace csweep::analyses
