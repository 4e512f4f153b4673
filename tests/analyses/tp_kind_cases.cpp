#include "tests/analyses/tp_kind_cases.h"

#include "analyses/weight_processing.h"
#include "jobs/kinds/kind_registry.h"
#include "model/sae_config.h"
#include "tests/model/tp_checks.h"

namespace csweep::analyses {

using model::HookPoint;

namespace {

GridAxis index_axis(const char* name, int64_t n) {
  GridAxis a{name, {}, {}};
  for (int64_t i = 0; i < n; ++i) a.values.push_back(i);
  return a;
}

}  // namespace

std::vector<TpKindCase> tp_kind_cases(const model::ModelConfig& c,
                                      const std::vector<int64_t>& clean) {
  SweepRequest base;
  base.clean_tokens = clean;
  base.corrupted_tokens = clean;
  base.corrupted_tokens[2] = (clean[2] + 5) % c.d_vocab;
  base.corrupted_tokens[5] = (clean[5] + 11) % c.d_vocab;
  base.answers = {{13, 29}, {41, 8}};
  base.seed = 7;
  const std::vector<std::vector<int64_t>> reference = {
      base.corrupted_tokens, std::vector<int64_t>(clean.rbegin(), clean.rend())};
  std::vector<TpKindCase> out;
  auto add = [&](const std::string& name, auto&& edit) {
    TpKindCase k{name, base, {}};
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
  // SAE features: the example SAE (blocks.1.hook_resid_pre, d_in 64) on the models it fits;
  // found from this file, since the mpirun check has no source-folder definition.
  const auto sae_dir =
      std::filesystem::path(__FILE__).parent_path() / "../../examples/models/induction-2l-sae";
  if (model::sae_model_problem(model::read_sae_config(sae_dir), c).empty()) {
    SweepRequest sae = base;
    sae.sae = sae_dir.lexically_normal().string();
    const std::vector<GridAxis> grid{{"feature", {0, 5, 77}, {}}, {"pos", {0, 2, 5}, {}}};
    sae.kind = "sae_feature_ablation";
    out.push_back({"sae_feature_ablation", sae, grid});
    sae.kind = "sae_feature_patching";
    sae.direction = Direction::Noising;
    out.push_back({"sae_feature_patching noising", sae, grid});
  }
  // ... and a per-head one (blocks.1.attn.hook_z, head-sharded under tensor parallelism).
  const auto z_dir =
      std::filesystem::path(__FILE__).parent_path() / "../model/fixtures/sae/gpt2_tiny_hook_z";
  if (model::sae_model_problem(model::read_sae_config(z_dir), c).empty()) {
    SweepRequest sae = base;
    sae.kind = "sae_feature_patching";
    sae.sae = z_dir.lexically_normal().string();
    out.push_back(
        {"sae_feature_patching hook_z", sae, {{"feature", {2, 31, 95}, {}}, {"pos", {1, 5}, {}}}});
    // The corpus feature search: one context's max, argmax, fires and two histogram bins.
    sae.kind = "sae_feature_search";
    out.push_back({"sae_feature_search hook_z",
                   sae,
                   {{"feature", {2, 31, 95}, {}}, {"quantity", {0, 1, 2, 5, 8}, {}}}});
  }
  // Circuit faithfulness: heads and MLPs patched from the corrupted run, and heads mean-ablated
  // (one a head at one position), every size from the empty circuit to the full model.
  SweepRequest circuit = base;
  circuit.kind = "circuit_faithfulness";
  circuit.circuit.ranked = {{HookPoint::AttnZ, c.n_layers - 1, 1, -1},
                            {HookPoint::MlpOut, 0, -1, -1},
                            {HookPoint::AttnZ, 0, c.n_heads - 1, 3}};
  circuit.circuit.mlps = true;
  const int64_t universe = c.n_layers * (c.n_heads + 1);
  out.push_back({"circuit_faithfulness patch", circuit, {{"size", {0, 1, 2, 3, universe}, {}}}});
  circuit.circuit.ranked.erase(circuit.circuit.ranked.begin() + 1);
  circuit.circuit.mlps = false;
  circuit.circuit.ablation = SweepRequest::CircuitAblation::Mean;
  circuit.reference_prompts = reference;
  out.push_back({"circuit_faithfulness mean", circuit, {{"size", {0, 1, 2, 5}, {}}}});
  // Path patching: heads -> the last block's q, k and v; MLPs by position -> logits, frozen.
  SweepRequest path = base;
  path.kind = "path_patching";
  path.point = HookPoint::AttnZ;
  const int64_t last = c.n_layers - 1;
  path.path.receivers = {
      {HookPoint::AttnQ, last, 1}, {HookPoint::AttnK, last, 0}, {HookPoint::AttnV, last, 0}};
  out.push_back({"path_patching heads -> q/k/v", path, {layers, heads}});
  path.point = HookPoint::MlpOut;
  path.path.receivers.clear();
  path.path.freeze_mlps = true;
  out.push_back({"path_patching mlp -> logits", path, {layers, GridAxis{"pos", {2, 5}, {}}}});
  // Probes over a labelled set (the prompt with its first and fourth tokens varied): classes from
  // the first token at the last position and the attention/MLP outputs, and a float target.
  SweepRequest probe = base;
  probe.kind = "probe";
  for (int64_t i = 0; i < 12; ++i) {
    std::vector<int64_t> tokens = clean;
    tokens[0] = (clean[0] + 7 * (i % 2)) % c.d_vocab;
    tokens[3] = (clean[3] + 3 * i) % c.d_vocab;
    probe.probe.prompts.push_back(tokens);
    probe.probe.labels.push_back(static_cast<double>(i % 2));
  }
  const auto site_axis = [](std::vector<HookPoint> points) {
    GridAxis a{"site", {}, {}};
    for (HookPoint p : points) a.values.push_back(static_cast<int64_t>(p));
    return a;
  };
  const GridAxis probe_quantities{"quantity", {0, 1}, {}};
  out.push_back({"probe classes",
                 probe,
                 {site_axis({HookPoint::ResidPost, HookPoint::AttnOut, HookPoint::MlpOut}), layers,
                  GridAxis{"token", {-1, 0}, {}}, probe_quantities}});
  probe.probe.classes = false;
  for (size_t i = 0; i < probe.probe.labels.size(); ++i)
    probe.probe.labels[i] = 0.5 * static_cast<double>(i) - 1.0;
  out.push_back(
      {"probe values",
       probe,
       {site_axis({HookPoint::ResidPre}), layers, GridAxis{"token", {2}, {}}, probe_quantities}});
  return out;
}

std::map<std::string, at::Tensor> tp_kind_outputs(const model::Model& m,
                                                  const std::vector<TpKindCase>& all) {
  std::map<std::string, at::Tensor> out;
  for (const TpKindCase& k : all) {
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

std::shared_ptr<model::Model> tp_kind_model(const std::filesystem::path& dir,
                                            model::Collective* group) {
  model::LoadOptions o;
  o.tensor_parallel = group;
  auto m = model::Model::load(dir, o);
  process_weights(*m);  // collective under tensor parallelism (b_V's fold)
  return m;
}

std::vector<int64_t> tp_kind_prompt(const std::filesystem::path& dir) {
  const at::Tensor tokens = model::testing::tp_tokens(dir)[0].contiguous();
  return {tokens.data_ptr<int64_t>(), tokens.data_ptr<int64_t>() + tokens.numel()};
}

}  // namespace csweep::analyses
