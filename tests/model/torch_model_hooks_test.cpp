// Hook reads and writes, resumption from a cached residual, Logits::Last, site order and
// shapes, and the loader's tensor checks.
#include <algorithm>

#include "common/error.h"
#include "model/arch_table.h"
#include "model/model.h"
#include "tests/error_of.h"
#include "tests/model/reference/model_test_util.h"

namespace csweep::model {
namespace {

using namespace testing;  // model_test_util.h: fixtures, read_tensor, max_abs_diff, resume_cache
using csweep::testing::error_of;

// Fails unless `fn` throws a csweep::Error: one line that holds every one of `parts`.
template <class Fn>
void expect_error_naming(Fn fn, const std::vector<std::string>& parts) {
  const std::string msg = error_of(fn);
  for (const std::string& part : parts)
    EXPECT_NE(msg.find(part), std::string::npos) << "expected \"" << part << "\" in: " << msg;
  EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
}

std::shared_ptr<Model> gpt2() {
  static auto model = Model::load(gpt2_fixture(), {});
  return model;
}

// [2, 8]: the clean and the corrupted prompt of the fixture as two batch rows.
at::Tensor two_prompts() {
  auto f = gpt2_fixture() / "activations.safetensors";
  return at::cat(
      {read_tensor(f, "tokens/clean", at::kLong), read_tensor(f, "tokens/corrupted", at::kLong)},
      0);
}

at::Tensor cached(const Model& m, const at::Tensor& tokens, HookSite site) {
  Hooks h;
  h.cache(site);
  m.forward(tokens, &h);
  return h.cache().at(site);
}

// Logits of the model resumed at `layer` from a hand-made residual stream.
at::Tensor resume(const Model& m, int64_t layer, const at::Tensor& resid) {
  ForwardOptions o;
  o.start_layer = layer;
  o.start_resid = resid;
  return m.forward({}, nullptr, o);
}

TEST(TorchModelHooks, ResumingFromCachedResidualEqualsFullForward) {
  auto& m = *gpt2();
  at::Tensor tokens = two_prompts();
  at::Tensor full = m.forward(tokens);
  for (int64_t l = 0; l < m.config().n_layers; ++l) {
    at::Tensor resid = cached(m, tokens, {HookPoint::ResidPre, l});
    EXPECT_LE(max_abs_diff(resume(m, l, resid), full), 1e-5) << "layer " << l;
    ForwardOptions stop;
    stop.stop_layer = l;
    EXPECT_LE(max_abs_diff(m.forward(tokens, nullptr, stop), resid), 1e-6) << "stop_layer " << l;
  }
}

TEST(TorchModelResume, UneditedGroupsReproduceTheCachedRunFromEveryStart) {
  for (const auto& dir : {gpt2_fixture(), arch_fixtures() / "llama_gqa_llama3_tied",
                          arch_fixtures() / "neox_parallel"}) {
    auto m = Model::load(dir);
    at::Tensor tokens = two_prompts().narrow(0, 0, 1).remainder(m->config().d_vocab);
    const auto cache = resume_cache(*m, tokens);
    const int64_t p = tokens.size(1), n = m->config().n_layers;
    at::Tensor final_last =
        cache.at({HookPoint::ResidPost, n - 1}).narrow(1, p - 1, 1);  // [1, 1, d]
    // Every start (block, first position, whole block or after attention) in ONE call: groups
    // of different starts share the packed GEMMs.
    std::vector<ResumeGroup> groups;
    for (int64_t l = 0; l < n; ++l) {
      for (int64_t f = 0; f < p; ++f) {
        groups.push_back({2, l, f, 0, nullptr});
        groups.push_back({1, l, f, f + 1, nullptr});
      }
    }
    at::Tensor out = m->resume(cache, groups);
    ASSERT_EQ(out.size(0), 3 * n * p);
    EXPECT_LE(max_abs_diff(out, final_last.expand({out.size(0), 1, final_last.size(2)})), 1e-5)
        << dir;
  }
}

TEST(TorchModelResume, HookedGroupsEqualTheEditedFullForward) {
  auto& m = *gpt2();
  at::Tensor tokens = two_prompts();
  at::Tensor clean = tokens.narrow(0, 0, 1), corrupted = tokens.narrow(0, 1, 1);
  const auto cache = resume_cache(m, corrupted);
  const auto source = resume_cache(m, clean);
  // Patch the clean z of head 1 at position 5 of block 1, and the clean resid_pre at
  // position 3 of block 2: each as a full forward and as a resumed group (two groups, one call).
  auto z_patch = [&](Hooks& h, int64_t shift, int64_t len) {
    at::Tensor value = source.at({HookPoint::AttnZ, 1}).narrow(1, 5, len);
    h.add({HookPoint::AttnZ, 1}, [=](at::Tensor& act, const HookSite&) {
      act.narrow(1, 5 - shift, 1).narrow(2, 1, 1).copy_(value.narrow(1, 0, 1).narrow(2, 1, 1));
    });
  };
  auto resid_patch = [&](Hooks& h, int64_t shift) {
    at::Tensor value = source.at({HookPoint::ResidPre, 2}).narrow(1, 3, 1);
    h.add({HookPoint::ResidPre, 2}, [=](at::Tensor& act, const HookSite&) {
      act.narrow(1, 3 - shift, 1).copy_(value.expand({act.size(0), 1, value.size(2)}));
    });
  };
  ForwardOptions o;
  o.logits = ForwardOptions::Logits::None;
  Hooks full_z, full_resid;
  z_patch(full_z, 0, 1);
  resid_patch(full_resid, 0);
  at::Tensor want_z = m.forward(corrupted, &full_z, o).narrow(1, 7, 1);
  at::Tensor want_resid = m.forward(corrupted, &full_resid, o).narrow(1, 7, 1);
  Hooks group_z, group_resid;
  z_patch(group_z, 5, 1);       // enters block 1 after attention at positions [5, 6)
  resid_patch(group_resid, 3);  // block 2 from position 3
  at::Tensor got = m.resume(cache, {{1, 1, 5, 6, &group_z}, {2, 2, 3, 0, &group_resid}});
  EXPECT_LE(max_abs_diff(got.narrow(0, 0, 1), want_z), 1e-5);
  EXPECT_LE(max_abs_diff(got.narrow(0, 1, 2), want_resid.expand({2, 1, want_resid.size(2)})), 1e-5);
  const HookSite final_site{HookPoint::ResidPost, m.config().n_layers - 1};
  EXPECT_GT(max_abs_diff(want_z, cache.at(final_site).narrow(1, 7, 1)),
            1e-3);  // the patches matter
  EXPECT_GT(max_abs_diff(want_resid, cache.at(final_site).narrow(1, 7, 1)), 1e-3);
}

TEST(TorchModelResume, MissingCachedSiteIsAnErrorNamingIt) {
  auto& m = *gpt2();
  auto cache = resume_cache(m, two_prompts().narrow(0, 0, 1));
  cache.erase({HookPoint::AttnV, 2});
  expect_error_naming([&] { m.resume(cache, {{1, 1, 4, 0, nullptr}}); }, {"blocks.2.attn.hook_v"});
  expect_error_naming([&] { m.resume(cache, {{1, 9, 0, 0, nullptr}}); }, {"out of range"});
}

TEST(TorchModelResume, HooksItWouldNeverRunAreErrors) {
  auto& m = *gpt2();
  const auto cache = resume_cache(m, two_prompts().narrow(0, 0, 1));
  auto expect_error = [&](const std::vector<ResumeGroup>& groups, const std::string& part) {
    expect_error_naming([&] { m.resume(cache, groups); }, {part});
  };
  Hooks early;  // block 0 for a group starting at block 1
  early.add({HookPoint::ResidPre, 0}, [](at::Tensor&, const HookSite&) {});
  expect_error({{1, 1, 0, 0, &early}}, "blocks.0.hook_resid_pre");
  Hooks before_z;  // hook_v in the start block of an after-attention entry
  before_z.add({HookPoint::AttnV, 1}, [](at::Tensor&, const HookSite&) {});
  expect_error({{1, 1, 2, 3, &before_z}}, "blocks.1.attn.hook_v");
  Hooks global;
  global.add({HookPoint::LnFinalScale, -1}, [](at::Tensor&, const HookSite&) {});
  expect_error({{1, 0, 0, 0, &global}}, "ln_final.hook_scale");
  Hooks shared;
  shared.add({HookPoint::ResidPre, 1}, [](at::Tensor&, const HookSite&) {});
  expect_error({{1, 1, 0, 0, &shared}, {1, 1, 2, 0, &shared}}, "share one Hooks");
  // A hook that changes a group's rows' dtype when other groups share the call.
  Hooks cast;
  cast.add({HookPoint::ResidPre, 1},
           [](at::Tensor& act, const HookSite&) { act = act.to(at::kDouble); });
  expect_error({{1, 1, 0, 0, &cast}, {1, 1, 3, 0, nullptr}}, "different shape or dtype");
}

TEST(TorchModelHooks, LogitsLastIsTheLastRowOfAll) {
  auto& m = *gpt2();
  at::Tensor tokens = two_prompts();
  at::Tensor all = m.forward(tokens);
  ForwardOptions o;
  o.logits = ForwardOptions::Logits::Last;
  at::Tensor last = m.forward(tokens, nullptr, o);
  ASSERT_EQ(last.sizes(), (std::vector<int64_t>{2, 1, m.config().d_vocab}));
  EXPECT_LE(max_abs_diff(last, all.narrow(1, 7, 1)), 1e-5);
  // Also when ln_final is hooked (then it sees every position).
  Hooks h;
  h.cache({HookPoint::LnFinalNormalized, -1});
  at::Tensor last_hooked = m.forward(tokens, &h, o);
  EXPECT_LE(max_abs_diff(last_hooked, all.narrow(1, 7, 1)), 1e-5);
  EXPECT_EQ(h.cache().at({HookPoint::LnFinalNormalized, -1}).size(1), 8);
}

TEST(TorchModelHooks, ResidWritesEqualResumingFromTheManuallyEditedResidual) {
  auto& m = *gpt2();
  at::Tensor tokens = two_prompts();
  const HookSite site{HookPoint::ResidPre, 2};
  at::Tensor resid = cached(m, tokens, site);
  at::Tensor other = at::randn_like(resid);
  Slice slice{{1}, {2, 5}, {}};
  // The manual edits: only row 1, positions 2 and 5.
  at::Tensor replaced = resid.clone(), added = resid.clone(), zeroed = resid.clone(),
             scaled = resid.clone();
  for (int64_t p : {2, 5}) {
    replaced[1][p] = other[1][p];
    added[1][p] += other[1][p];
    zeroed[1][p] = 0;
    scaled[1][p] *= -2.5;
  }
  struct Case {
    const char* name;
    HookFn fn;
    at::Tensor expected;
  };
  std::vector<Case> cases{{"replace", replace_with(other, slice), replaced},
                          {"add", add_to(other, slice), added},
                          {"zero", zero(slice), zeroed},
                          {"scale", scale(-2.5, slice), scaled}};
  at::Tensor plain = m.forward(tokens);
  for (auto& c : cases) {
    Hooks h;
    h.add(site, c.fn);
    h.cache(site);
    at::Tensor logits = m.forward(tokens, &h);
    EXPECT_LE(max_abs_diff(h.cache().at(site), c.expected), 1e-6) << c.name;
    EXPECT_LE(max_abs_diff(logits, resume(m, 2, c.expected)), 1e-5) << c.name;
    // Row 0 was not selected: its logits are untouched.
    EXPECT_LE(max_abs_diff(logits.select(0, 0), plain.select(0, 0)), 1e-6) << c.name;
    EXPECT_GT(max_abs_diff(logits.select(0, 1), plain.select(0, 1)), 1e-3) << c.name;
  }
}

TEST(TorchModelHooks, HeadWritesOnZChangeOnlyThatHead) {
  auto& m = *gpt2();
  at::Tensor tokens = two_prompts();
  const int64_t layer = 1;
  const HookSite z_site{HookPoint::AttnZ, layer}, out_site{HookPoint::AttnOut, layer};
  at::Tensor z = cached(m, tokens, z_site);  // [b, p, h, d_head]
  Hooks h;
  h.add(z_site, zero(Slice{{}, {}, {1, 3}}));
  h.cache(z_site);
  h.cache(out_site);
  m.forward(tokens, &h);
  at::Tensor expected_z = z.clone();
  expected_z.select(2, 1).zero_();
  expected_z.select(2, 3).zero_();
  EXPECT_EQ(max_abs_diff(h.cache().at(z_site), expected_z), 0.0);
  const LayerWeights& w = m.weights().layers[layer];
  at::Tensor expected_out = at::linear(expected_z.reshape({2, 8, -1}), w.W_O, w.b_O);
  EXPECT_LE(max_abs_diff(h.cache().at(out_site), expected_out), 1e-5);

  // Patching one head at one position from the other batch row (batch-1 source broadcasts).
  Hooks p;
  at::Tensor source = z.narrow(0, 0, 1);  // row 0 = clean
  p.add(z_site, replace_with(source, Slice{{1}, {2}, {0}}));
  p.cache(z_site);
  m.forward(tokens, &p);
  at::Tensor expected = z.clone();
  expected[1][2][0] = z[0][2][0];
  EXPECT_EQ(max_abs_diff(p.cache().at(z_site), expected), 0.0);
}

TEST(TorchModelHooks, PatternSlicesSelectQueryPositionsAndHeads) {
  auto& m = *gpt2();
  at::Tensor tokens = two_prompts();
  const HookSite site{HookPoint::AttnPattern, 0};
  at::Tensor pattern = cached(m, tokens, site);  // [b, h, q, k]
  Hooks h;
  h.add(site, scale(0.5, Slice{{0}, {4}, {2}}));
  h.cache(site);
  m.forward(tokens, &h);
  at::Tensor expected = pattern.clone();
  expected[0][2][4].mul_(0.5);
  EXPECT_EQ(max_abs_diff(h.cache().at(site), expected), 0.0);
}

TEST(TorchModelHooks, SeveralHooksRunInOrderAndVanishWithTheirScope) {
  auto& m = *gpt2();
  at::Tensor tokens = two_prompts();
  at::Tensor plain = m.forward(tokens);
  std::vector<std::string> order;
  {
    Hooks h;
    const HookSite site{HookPoint::MlpOut, 0};
    h.add(site, [&](at::Tensor& a, const HookSite&) {
      order.push_back("first");
      a = a * 2;
    });
    h.add(site, [&](at::Tensor& a, const HookSite&) {
      order.push_back("second");
      a = a + 1;
    });
    h.cache(site);
    m.forward(tokens, &h);
    at::Tensor out = h.cache().at(site);
    at::Tensor raw = cached(m, tokens, site);
    EXPECT_LE(max_abs_diff(out, raw * 2 + 1), 1e-5);
  }
  EXPECT_EQ(order, (std::vector<std::string>{"first", "second"}));
  EXPECT_EQ(max_abs_diff(m.forward(tokens), plain), 0.0);  // nothing left behind
  Hooks h;
  h.add({HookPoint::ResidPost, 0}, zero({}));
  h.clear();
  EXPECT_FALSE(h.active({HookPoint::ResidPost, 0}));
  EXPECT_EQ(max_abs_diff(m.forward(tokens, &h), plain), 0.0);
}

TEST(TorchModelHooks, CacheFilterKeepsOnlyMatchingSites) {
  auto& m = *gpt2();
  Hooks h;
  h.cache_all([](const HookSite& s) { return s.point == HookPoint::AttnZ; });
  m.forward(two_prompts(), &h);
  EXPECT_EQ(h.cache().size(), size_t(m.config().n_layers));
  for (auto& [site, t] : h.cache()) EXPECT_EQ(site.point, HookPoint::AttnZ);
}

TEST(TorchModelHooks, BadSlicesAreErrorsNamingTheSite) {
  auto& m = *gpt2();
  Hooks h;
  h.add({HookPoint::ResidPre, 1}, zero(Slice{{}, {}, {0}}));
  expect_error_naming([&] { m.forward(two_prompts(), &h); }, {"blocks.1.hook_resid_pre"});
  Hooks r;
  r.add({HookPoint::AttnZ, 0}, zero(Slice{{}, {8}, {}}));
  EXPECT_THROW(m.forward(two_prompts(), &r), csweep::Error);
}

// Every site of all_sites() is visited once, in that order, with TransformerLens's shapes.
void check_sites(const Model& m) {
  const ModelConfig& c = m.config();
  const int64_t b = 2, p = 8;
  Hooks h;
  std::vector<HookSite> seen;
  for (const HookSite& s : all_sites(c))
    h.add(s, [&](at::Tensor& a, const HookSite& site) {
      seen.push_back(site);
      std::vector<int64_t> want;
      switch (site.point) {
        case HookPoint::AttnQ:
        case HookPoint::AttnRotQ:
        case HookPoint::AttnZ:
          want = {b, p, c.n_heads, c.d_head};
          break;
        case HookPoint::AttnK:
        case HookPoint::AttnV:
        case HookPoint::AttnRotK:
          want = {b, p, c.n_kv_heads, c.d_head};
          break;
        case HookPoint::AttnScores:
        case HookPoint::AttnPattern:
          want = {b, c.n_heads, p, p};
          break;
        case HookPoint::Ln1Scale:
        case HookPoint::Ln1PostScale:
        case HookPoint::Ln2Scale:
        case HookPoint::Ln2PostScale:
        case HookPoint::LnFinalScale:
          want = {b, p, 1};
          break;
        case HookPoint::MlpPre:
        case HookPoint::MlpPreLinear:
        case HookPoint::MlpPost:
          want = {b, p, c.d_mlp};
          break;
        default:
          want = {b, p, c.d_model};
      }
      EXPECT_EQ(a.sizes(), want) << site.name();
    });
  m.forward(at::randint(0, c.d_vocab, {b, p}, at::kLong), &h);
  EXPECT_EQ(seen, all_sites(c));
}

TEST(TorchModelHooks, SitesAndShapesGpt2) { check_sites(*gpt2()); }
TEST(TorchModelHooks, SitesAndShapesLlamaGqa) {
  check_sites(*Model::load(arch_fixtures() / "llama_gqa_llama3_tied"));
}
TEST(TorchModelHooks, SitesAndShapesNeoxParallel) {
  check_sites(*Model::load(arch_fixtures() / "neox_parallel"));
}
TEST(TorchModelHooks, SitesAndShapesQwen3) { check_sites(*Model::load(arch_fixtures() / "qwen3")); }
// ln1_post / ln2_post (TransformerLens's Gemma names) between attn.hook_z and hook_attn_out,
// and between mlp.hook_post and hook_mlp_out.
TEST(TorchModelHooks, SitesAndShapesGemma3) {
  const auto m = Model::load(arch_fixtures() / "gemma3");
  check_sites(*m);
  std::vector<std::string> names;
  for (const HookSite& s : all_sites(m->config()))
    if (s.layer == 0) names.push_back(point_suffix(s.point));
  auto at = [&](const std::string& n) {
    return std::find(names.begin(), names.end(), n) - names.begin();
  };
  EXPECT_EQ(at("ln1_post.hook_scale"), at("attn.hook_z") + 1);
  EXPECT_EQ(at("hook_attn_out"), at("ln1_post.hook_normalized") + 1);
  EXPECT_EQ(at("ln2_post.hook_scale"), at("mlp.hook_post") + 1);
  EXPECT_EQ(at("hook_mlp_out"), at("ln2_post.hook_normalized") + 1);
  // Zeroing ln1_post's normalized output leaves only the weight-free sum: hook_attn_out is 0.
  Hooks h;
  h.add({HookPoint::Ln1PostNormalized, 0}, [](at::Tensor& a, const HookSite&) { a.zero_(); });
  h.add({HookPoint::AttnOut, 0},
        [](at::Tensor& a, const HookSite&) { EXPECT_EQ(a.abs().max().item<float>(), 0.f); });
  m->forward(at::randint(0, m->config().d_vocab, {1, 5}, at::kLong), &h);
}

TEST(TorchModelLoad, MissingTensorNamesFileAndTensor) {
  expect_error_naming([] { Model::load(arch_fixtures() / "broken_missing_tensor"); },
                      {"model.safetensors", "model.layers.1.mlp.up_proj.weight", "missing"});
}

TEST(TorchModelLoad, WrongShapeNamesTensorAndBothShapes) {
  expect_error_naming([] { Model::load(arch_fixtures() / "broken_bad_shape"); },
                      {"model.layers.0.self_attn.o_proj.weight", "[64,65]", "[64,64]"});
}

TEST(TorchModelLoad, UnexpectedTensorsAreReported) {
  const auto dir = arch_fixtures() / "extra_tensor";
  auto files = CheckpointFiles::open(dir);
  ModelConfig c = load_model_config(dir);
  std::vector<std::string> extra;
  load_weights(files, c, at::kFloat, at::kCPU, &extra);
  EXPECT_EQ(extra, (std::vector<std::string>{"model.layers.0.self_attn.extra_proj.weight"}));
  // The tied lm_head and GPT-2's attention buffers are expected, not reported.
  auto gpt2_files = CheckpointFiles::open(arch_fixtures() / "gpt2_prefixed");
  load_weights(gpt2_files, load_model_config(arch_fixtures() / "gpt2_prefixed"), at::kFloat,
               at::kCPU, &extra);
  EXPECT_TRUE(extra.empty());
}

}  // namespace
}  // namespace csweep::model
