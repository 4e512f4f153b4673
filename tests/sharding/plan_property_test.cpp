// Randomised (seeded) property tests of the planner on many specs and model shapes: every unit
// in exactly one shard, no shard over the memory budget, costliest first, ids 0..n-1, one
// start layer per shard, and the same plan whatever the rank count.
#include <random>
#include <set>

#include <gtest/gtest.h>

#include "common/error.h"
#include "jobs/kinds/kind_options.h"
#include "jobs/kinds/kind_reader.h"
#include "sharding/cost_model.h"
#include "sharding/plan.h"

namespace csweep::sharding {
namespace {

model::ModelConfig random_config(std::mt19937_64& rng) {
  model::ModelConfig c;
  c.n_layers = 1 + rng() % 12;
  c.n_heads = 1 + rng() % 8;
  c.n_kv_heads = c.n_heads;
  c.d_head = 8 * (1 + rng() % 8);
  c.d_model = c.n_heads * c.d_head;
  c.d_mlp = 4 * c.d_model;
  c.d_vocab = 100 + rng() % 5000;
  c.n_ctx = 128;
  c.gated_mlp = rng() % 2;
  return c;
}

std::vector<int64_t> random_subset(std::mt19937_64& rng, int64_t n) {
  std::vector<int64_t> out;
  for (int64_t i = 0; i < n; ++i)
    if (rng() % 3 != 0) out.push_back(i);
  if (out.empty()) out.push_back(static_cast<int64_t>(rng() % n));
  return out;
}

// A kind's options with every default, read from an empty map.
std::shared_ptr<const jobs::KindOptions> default_options(const jobs::Kind& kind) {
  jobs::Diagnostics diag;
  jobs::AnalysesContext ctx{jobs::Source{&diag, "random.yaml", 0}};
  const YAML::Node empty(YAML::NodeType::Map);
  jobs::KindReader reader(ctx, empty, "analyses[0]");
  jobs::AnalysisSpec a;
  a.kind = &kind;  // as the job reader sets it before the row's reader runs
  kind.read(reader, a);
  return a.options;
}

jobs::JobSpec random_spec(std::mt19937_64& rng, const model::ModelConfig& c) {
  jobs::JobSpec spec;
  spec.file = "random.yaml";
  spec.model.dtype = rng() % 2 ? "float32" : "bfloat16";
  int64_t n_prompts = 1 + rng() % 4;
  int64_t min_tokens = 64;
  for (int64_t p = 0; p < n_prompts; ++p) {
    jobs::PromptPair pair;
    pair.id = "p" + std::to_string(p);
    int64_t tokens = 2 + rng() % 30;
    min_tokens = std::min(min_tokens, tokens);
    pair.clean.assign(tokens, 1);
    pair.corrupted.assign(tokens, 2);
    pair.answers = {3};
    pair.wrongs = {4};
    pair.subject = {0, 1};
    spec.prompts.push_back(pair);
  }
  int64_t n_analyses = 1 + rng() % 4;
  for (int64_t i = 0; i < n_analyses; ++i) {
    jobs::AnalysisSpec a;
    a.name = "a" + std::to_string(i);
    const auto& kinds = jobs::all_kinds();
    a.kind = kinds[rng() % kinds.size()];
    a.layers = random_subset(rng, c.n_layers);
    a.heads = random_subset(rng, c.n_heads);
    a.positions = random_subset(rng, min_tokens);
    const std::string& kind = a.kind->name;
    const bool per_position = rng() % 3 != 0;
    if (kind == "activation_patching" || kind == "attribution_patching") {
      a.sites = rng() % 2 ? std::vector<model::HookPoint>{model::HookPoint::AttnZ}
                          : std::vector<model::HookPoint>{model::HookPoint::ResidPre,
                                                          model::HookPoint::MlpOut};
      if (kind == "activation_patching") {
        auto o = std::make_shared<jobs::ActivationPatchingOptions>();
        o->per_position = per_position;
        a.options = o;
      } else {
        auto o = std::make_shared<jobs::AttributionPatchingOptions>();
        o->per_position = per_position;
        a.options = o;
      }
    } else if (kind == "ablation") {
      const char* targets[] = {"heads", "mlp", "layer", "neuron"};
      auto o = std::make_shared<jobs::AblationOptions>();
      o->target = targets[rng() % 4];
      o->neurons = random_subset(rng, 16);
      a.options = o;
    } else if (kind == "causal_tracing") {
      auto o = std::make_shared<jobs::CausalTracingOptions>();
      o->samples = static_cast<int64_t>(1 + rng() % 6);
      o->window = static_cast<int64_t>(1 + rng() % 5);
      a.options = o;
    } else if (kind == "logit_lens") {
      auto o = std::make_shared<jobs::LogitLensOptions>();
      o->quantities = {"prob", "rank"};
      a.options = o;
    } else if (kind == "direct_logit_attribution") {
      auto o = std::make_shared<jobs::DirectLogitAttributionOptions>();
      o->components = rng() % 2 ? "heads" : "mlp";
      a.options = o;
    } else if (kind == "attention_scores") {
      auto o = std::make_shared<jobs::AttentionScoresOptions>();
      o->scores = {"previous_token", "induction"};
      a.options = o;
    } else {
      a.options = default_options(*a.kind);  // a kind added through the registry
      if (kind == "probe") a.sites = {model::HookPoint::ResidPost};  // its site axis
    }
    spec.analyses.push_back(a);
  }
  spec.sharding.batch_size = 1 + rng() % 64;
  return spec;
}

// The smallest budget every analysis fits under, plus some random slack.
uint64_t feasible_budget(std::mt19937_64& rng, const jobs::JobSpec& spec,
                         const model::ModelConfig& c) {
  jobs::JobSpec copy = spec;
  copy.sharding.batch_size = 1;
  Plan p = make_plan(copy, c);
  return p.max_shard_memory_bytes + rng() % (4 * p.max_shard_memory_bytes + 1);
}

void check_plan(const Plan& plan, const jobs::JobSpec& spec, const model::ModelConfig& c) {
  ASSERT_EQ(plan.grids.size(), spec.analyses.size());
  // every (analysis, prompt, cell) exactly once (see below for whole-prompt-set kinds)
  std::vector<std::vector<std::vector<int>>> seen(plan.grids.size());
  for (size_t a = 0; a < plan.grids.size(); ++a)
    seen[a].assign(spec.prompts.size(),
                   std::vector<int>(static_cast<size_t>(plan.grids[a].cells()), 0));
  for (size_t i = 0; i < plan.shards.size(); ++i) {
    const Shard& s = plan.shards[i];
    ASSERT_EQ(s.id, i);
    ASSERT_LT(s.analysis, plan.grids.size());
    ASSERT_LT(s.prompt, spec.prompts.size());
    ASSERT_GE(s.cell_begin, 0);
    ASSERT_LT(s.cell_begin, s.cell_end);
    ASSERT_LE(s.cell_end, plan.grids[s.analysis].cells());
    EXPECT_EQ(s.result_bytes, static_cast<uint64_t>(s.cells()) * 4);
    for (int64_t cell = s.cell_begin; cell < s.cell_end; ++cell) {
      ++seen[s.analysis][s.prompt][cell];
      EXPECT_EQ(plan.grids[s.analysis].start_layer(cell), s.start_layer);  // one shared suffix
    }
    if (spec.sharding.memory_budget_bytes) {
      EXPECT_LE(s.memory_bytes, spec.sharding.memory_budget_bytes);
    }
    if (i > 0) {
      EXPECT_GE(plan.shards[i - 1].flops, s.flops) << "costliest first";
    }
    EXPECT_GT(s.flops, 0.0);
    const auto& g = plan.grids[s.analysis];
    if (g.cost.per_cell_forward) {
      EXPECT_LE(s.cells() * g.cost.rows_per_cell,
                std::max(spec.sharding.batch_size, g.cost.rows_per_cell));
    }
  }
  // A whole-prompt-set kind's cells once, under its first prompt (that shard covers every prompt).
  for (size_t a = 0; a < seen.size(); ++a)
    for (size_t p = 0; p < seen[a].size(); ++p)
      for (int n : seen[a][p]) ASSERT_EQ(n, plan.grids[a].kind->whole_prompt_set && p > 0 ? 0 : 1);
  (void)c;
}

TEST(PlanProperties, RandomSpecs) {
  std::mt19937_64 rng(20261122);
  for (int trial = 0; trial < 300; ++trial) {
    SCOPED_TRACE("trial " + std::to_string(trial));
    model::ModelConfig c = random_config(rng);
    jobs::JobSpec spec = random_spec(rng, c);
    if (trial % 2) spec.sharding.memory_budget_bytes = feasible_budget(rng, spec, c);
    Plan plan = make_plan(spec, c);
    check_plan(plan, spec, c);
    if (HasFatalFailure()) return;
  }
}

TEST(PlanProperties, SamePlanForAnyRankCount) {
  std::mt19937_64 rng(7);
  for (int trial = 0; trial < 20; ++trial) {
    model::ModelConfig c = random_config(rng);
    jobs::JobSpec spec = random_spec(rng, c);
    Plan reference = make_plan(spec, c);
    for (int ranks : {1, 2, 3, 8, 65}) {
      Plan again = make_plan(spec, c);
      RankLayout layout = layout_ranks(again, ranks, 1);
      ASSERT_EQ(again.shards.size(), reference.shards.size());
      for (size_t i = 0; i < again.shards.size(); ++i) {
        EXPECT_EQ(again.shards[i].analysis, reference.shards[i].analysis);
        EXPECT_EQ(again.shards[i].prompt, reference.shards[i].prompt);
        EXPECT_EQ(again.shards[i].cell_begin, reference.shards[i].cell_begin);
        EXPECT_EQ(again.shards[i].cell_end, reference.shards[i].cell_end);
      }
      // every rank has one role: coordinator, worker in exactly one group
      std::multiset<int> workers;
      for (const auto& g : layout.groups) workers.insert(g.begin(), g.end());
      EXPECT_EQ(static_cast<int>(workers.size()), ranks == 1 ? 1 : ranks - 1);
      for (int r = ranks == 1 ? 0 : 1; r < ranks; ++r) EXPECT_EQ(workers.count(r), 1u);
    }
  }
}

TEST(PlanProperties, MemoryBudgetTooSmallIsAnError) {
  // The first random spec with an analysis that runs the model (a weights-only kind keeps no
  // activations): which kinds a seed draws changes whenever the registry gains one.
  for (uint64_t seed = 1; seed < 100; ++seed) {
    std::mt19937_64 rng(seed);
    model::ModelConfig c = random_config(rng);
    jobs::JobSpec spec = random_spec(rng, c);
    bool runs_model = false;
    for (const auto& a : spec.analyses)
      runs_model = runs_model || a.kind->cost(a, c).pass_memory != jobs::PassMemory::WeightsOnly;
    if (!runs_model) continue;
    spec.sharding.memory_budget_bytes = 16;
    EXPECT_THROW(make_plan(spec, c), csweep::Error) << "seed " << seed;
    return;
  }
  FAIL() << "no random spec runs the model";
}

TEST(Layout, TensorParallelGroups) {
  Plan plan;
  RankLayout l = layout_ranks(plan, 9, 4);
  ASSERT_EQ(l.groups.size(), 2u);
  EXPECT_EQ(l.groups[0], (std::vector<int>{1, 2, 3, 4}));
  EXPECT_EQ(l.groups[1], (std::vector<int>{5, 6, 7, 8}));
  EXPECT_EQ(l.group_of(0), -1);
  EXPECT_EQ(l.group_of(6), 1);
  try {
    layout_ranks(plan, 8, 4);
    FAIL();
  } catch (const csweep::Error& e) {
    EXPECT_STREQ(
        e.what(),
        "--ranks 8: the 7 worker ranks (all but rank 0) are not a multiple of tensor_parallel 4; "
        "use --ranks 9");
  }
  EXPECT_EQ(layout_ranks(plan, 1, 1).groups, (std::vector<std::vector<int>>{{0}}));
}

TEST(CostModel, SuffixRecomputationIsCheaper) {
  model::ModelConfig c;
  c.n_layers = 12;
  c.d_model = 768;
  c.n_heads = 12;
  c.n_kv_heads = 12;
  c.d_head = 64;
  c.d_mlp = 3072;
  c.d_vocab = 50257;
  // GPT-2 small, 16 tokens: 2 × 85M block parameters × 16 tokens + attention mixing + one
  // last-position unembedding (2 × 768 × 50257) ≈ 2.8 GFLOP
  double full = forward_flops(c, 16, 0, 1);
  EXPECT_GT(full, 2.7e9);
  EXPECT_LT(full, 2.9e9);
  EXPECT_LT(forward_flops(c, 16, 6, 1), 0.6 * full);
  EXPECT_DOUBLE_EQ(forward_flops(c, 16, 3, 10), 10 * forward_flops(c, 16, 3, 1));
  EXPECT_NEAR(static_cast<double>(weight_bytes(c, 4)) / 4e6, 163.0,
              2.0);  // untied GPT-2 small: 163M params
}

TEST(Estimate, MoreGroupsNeverSlower) {
  std::mt19937_64 rng(3);
  model::ModelConfig c = random_config(rng);
  jobs::JobSpec spec = random_spec(rng, c);
  Plan plan = make_plan(spec, c);
  double previous = 1e300;
  for (int ranks : {1, 2, 3, 5, 9}) {
    double t = estimate_seconds(plan, layout_ranks(plan, ranks, 1), 50.0);
    EXPECT_LE(t, previous * (1 + 1e-12));
    previous = t;
  }
  EXPECT_NEAR(estimate_seconds(plan, layout_ranks(plan, 1, 1), 50.0), plan.total_flops() / 50e9,
              1e-9);
}

}  // namespace
}  // namespace csweep::sharding
