// The analysis-kind registry: one row per kind, found by name; and the weight_norms,
// head_circuits, composition_scores and probe rows read from YAML (their grids, canonical options,
// file:line:column errors).
#include <algorithm>
#include <fstream>
#include <set>

#include "jobs/kinds/kind_options.h"
#include "tests/jobs/job_test_util.h"

namespace csweep::jobs::testing {
namespace {

TEST(KindRegistry, OneRowPerNameWithEveryPart) {
  std::set<std::string> names;
  for (const Kind* k : all_kinds()) {
    SCOPED_TRACE(k->name);
    EXPECT_TRUE(names.insert(k->name).second);
    EXPECT_EQ(find_kind(k->name), k);
    EXPECT_NE(k->read, nullptr);
    EXPECT_NE(k->grid, nullptr);
    EXPECT_NE(k->cost, nullptr);
  }
  EXPECT_EQ(find_kind("weight_norm"), nullptr);
  EXPECT_THROW(kind("weight_norm"), Error);
}

TEST(WeightNormsKind, GridIsQuantityLayerHead) {
  const JobSpec spec =
      parse_job_spec(std::string(kModel) + kPrompt +
                         "analyses:\n  - {name: n, kind: weight_norms, layers: [2, 0], "
                         "heads: 1-2, quantities: qk}\n",
                     job_path());
  const AnalysisSpec& a = spec.analyses.at(0);
  ASSERT_EQ(a.kind, find_kind("weight_norms"));
  const std::vector<Axis> axes = a.kind->grid(a);
  ASSERT_EQ(axes.size(), 3u);
  EXPECT_EQ(axes[0].name, "quantity");
  EXPECT_EQ(axes[0].labels, std::vector<std::string>{"qk"});
  EXPECT_EQ(axes[0].values, std::vector<int64_t>{1});  // the index among ov, qk
  EXPECT_EQ(axes[1].values, (std::vector<int64_t>{0, 2}));
  EXPECT_EQ(axes[2].values, (std::vector<int64_t>{1, 2}));
  EXPECT_EQ(canonical_json(spec)["analyses"][0]["options"].dump(), R"({"quantities":["qk"]})");
  EXPECT_EQ(a.kind->reduce.colour_scale, ColourScale::Sequential);
  EXPECT_FALSE(a.kind->uses_metric);
}

TEST(WeightNormsKind, DefaultsToBothCircuitsOfEveryHead) {
  // No answers needed: the kind does not use the metric.
  const JobSpec spec = parse_job_spec(std::string(kModel) + "prompts:\n  - {clean: [1, 2, 3]}\n" +
                                          "analyses:\n  - {name: n, kind: weight_norms}\n",
                                      job_path());
  const AnalysisSpec& a = spec.analyses.at(0);
  EXPECT_EQ(a.kind->grid(a)[0].labels, (std::vector<std::string>{"ov", "qk"}));
  EXPECT_EQ(a.heads, (std::vector<int64_t>{0, 1, 2, 3}));
}

TEST(WeightNormsKind, ErrorsNameFileLineColumnAndField) {
  EXPECT_EQ(parse_error(
                std::string(kModel) + kPrompt +
                "analyses:\n  - {name: n, kind: weight_norms, quantities: [ov, vo], heads: [4]}\n"),
            at(9, 52,
               "analyses[0].quantities[1]: unknown value \"vo\" (did you mean \"ov\"?); expected "
               "one of ov, qk") +
                "\n" +
                at(9, 65, "analyses[0].heads[0]: head 4 out of range (model has 4 heads: 0..3)"));
  EXPECT_EQ(parse_error(std::string(kModel) + kPrompt +
                        "analyses:\n  - {name: n, kind: weight_norms, sites: [x]}\n"),
            at(9, 35, "unknown key \"sites\" in analyses[0]"));
}

const model::ModelConfig& fixture_config() {
  static const model::ModelConfig c =
      model::load_model_config(csweep::testing::source_path("../shared/fixtures/gpt2-tiny"));
  return c;
}

TEST(HeadCircuitsKind, GridIsProcessingScoreLayerHead) {
  const JobSpec spec = parse_job_spec(
      std::string(kModel) + kPrompt +
          "analyses:\n  - {name: c, kind: head_circuits, layers: [1], heads: [0, 3], "
          "scores: previous_token, processing: [transformer_lens, none]}\n",
      job_path());
  const AnalysisSpec& a = spec.analyses.at(0);
  ASSERT_EQ(a.kind, find_kind("head_circuits"));
  const std::vector<Axis> axes = a.kind->grid(a);
  ASSERT_EQ(axes.size(), 4u);
  EXPECT_EQ(axes[0].name, "processing");
  EXPECT_EQ(axes[0].values, (std::vector<int64_t>{1, 0}));  // indices among none, transformer_lens
  EXPECT_EQ(axes[1].name, "score");
  EXPECT_EQ(axes[1].values, std::vector<int64_t>{1});  // among copying, previous_token
  EXPECT_EQ(axes[2].name, "layer");
  EXPECT_EQ(axes[2].values, std::vector<int64_t>{1});
  EXPECT_EQ(axes[3].values, (std::vector<int64_t>{0, 3}));
  EXPECT_EQ(canonical_json(spec)["analyses"][0]["options"].dump(),
            R"({"processing":["transformer_lens","none"],"scores":["previous_token"]})");
  EXPECT_FALSE(a.kind->uses_metric);
  EXPECT_EQ(a.kind->cost(a, fixture_config()).prompt_forwards, 0.0);
}

TEST(CompositionScoresKind, GridIsSourceHeadThenReaderHead) {
  const JobSpec spec = parse_job_spec(std::string(kModel) + "prompts:\n  - {clean: [1, 2, 3]}\n" +
                                          "analyses:\n  - {name: c, kind: composition_scores}\n",
                                      job_path());
  const AnalysisSpec& a = spec.analyses.at(0);
  const std::vector<Axis> axes = a.kind->grid(a);
  std::vector<std::string> names;
  for (const Axis& x : axes) names.push_back(x.name);
  EXPECT_EQ(names, (std::vector<std::string>{"processing", "composition", "source_layer",
                                             "source_head", "layer", "head"}));
  EXPECT_EQ(axes[0].labels, std::vector<std::string>{"none"});
  EXPECT_EQ(axes[1].labels, (std::vector<std::string>{"q", "k", "v"}));
  EXPECT_EQ(axes[2].values, axes[4].values);
  EXPECT_EQ(axes[3].size, 4);
  EXPECT_EQ(a.kind->reduce.colour_scale, ColourScale::Sequential);
  // Cost grows with the pairs of heads: half the heads, a quarter of the pair work.
  const JobSpec half =
      parse_job_spec(std::string(kModel) + "prompts:\n  - {clean: [1, 2, 3]}\n" +
                         "analyses:\n  - {name: c, kind: composition_scores, heads: [0, 1]}\n",
                     job_path());
  const double all = a.kind->cost(a, fixture_config()).prompt_other_flops;
  const double two = a.kind->cost(half.analyses[0], fixture_config()).prompt_other_flops;
  EXPECT_GT(all, 2.0 * two);
}

TEST(WeightCircuitKinds, ErrorsNameFileLineColumnAndField) {
  EXPECT_EQ(parse_error(std::string(kModel) + kPrompt +
                        "analyses:\n  - {name: n, kind: head_circuits, scores: [copyin]}\n"),
            at(9, 45,
               "analyses[0].scores[0]: unknown value \"copyin\" (did you mean \"copying\"?); "
               "expected one of copying, previous_token"));
  EXPECT_EQ(parse_error(std::string(kModel) + kPrompt +
                        "analyses:\n  - {name: n, kind: composition_scores, compositions: [q, o], "
                        "processing: tl}\n"),
            at(9, 59,
               "analyses[0].compositions[1]: unknown value \"o\" (did you mean \"q\"?); "
               "expected one of q, k, v") +
                "\n" +
                at(9, 75,
                   "analyses[0].processing: unknown value \"tl\"; expected one of none, "
                   "transformer_lens"));
}

// A rotary model: copying only by default, and previous_token is refused where it is asked.
TEST(WeightCircuitKinds, RotaryModelsHaveNoPositionalScore) {
  const auto dir = std::filesystem::temp_directory_path() / "csweep-kind-rotary";
  std::filesystem::create_directories(dir);
  std::ofstream(dir / "config.json")
      << R"({"model_type": "llama", "architectures": ["LlamaForCausalLM"], "hidden_size": 64,
             "intermediate_size": 128, "num_attention_heads": 4, "num_key_value_heads": 2,
             "num_hidden_layers": 2, "vocab_size": 100, "max_position_embeddings": 64,
             "rms_norm_eps": 1e-5})";
  // jobs/ reads config.json and checks the weights' files are big enough for it: a header and
  // zeros will do.
  std::ofstream(dir / "model.safetensors", std::ios::binary)
      << std::string("\x08\0\0\0\0\0\0\0{}      ", 16);
  std::filesystem::resize_file(dir / "model.safetensors", 1 << 20);
  const std::string model = "model:\n  path: " + dir.string() + "\n";
  const JobSpec spec = parse_job_spec(model + "prompts:\n  - {clean: [1, 2, 3]}\n" +
                                          "analyses:\n  - {name: c, kind: head_circuits}\n",
                                      job_path());
  EXPECT_EQ(spec.analyses[0].kind->grid(spec.analyses[0])[1].labels,
            std::vector<std::string>{"copying"});
  const std::string error =
      parse_error(model + "prompts:\n  - {clean: [1, 2, 3]}\n" +
                  "analyses:\n  - {name: c, kind: head_circuits, scores: [previous_token]}\n");
  EXPECT_NE(error.find(":6:44: analyses[0].scores: previous_token needs learned positional "
                       "embeddings (W_pos)"),
            std::string::npos)
      << error;
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace csweep::jobs::testing

namespace csweep::jobs::testing {
namespace {

// Four labelled prompts (lines 4-7 of the job), then the analyses from line 8.
constexpr const char* kLabelled =
    "prompts:\n"
    "  - {clean: [1, 2, 3, 4, 5], label: 0}\n"
    "  - {clean: [6, 7, 8, 9], label: 1}\n"
    "  - {clean: [10, 11, 12, 13], label: 0}\n"
    "  - {clean: [14, 15, 16, 17], label: 1}\n";

std::string probe_job(const std::string& analysis, const char* prompts = kLabelled) {
  return std::string(kModel) + prompts + "analyses:\n  - " + analysis + "\n";
}

TEST(ProbeKind, GridIsSiteLayerTokenQuantityOverTheWholePromptSet) {
  const JobSpec spec = parse_job_spec(
      probe_job("{name: p, kind: probe, layers: [1], sites: [hook_mlp_out, hook_resid_pre], "
                "tokens: [0, last, -2], held_out: 0.5, seed: 4}"),
      job_path());
  const AnalysisSpec& a = spec.analyses.at(0);
  ASSERT_EQ(a.kind, find_kind("probe"));
  EXPECT_TRUE(a.kind->whole_prompt_set);
  EXPECT_FALSE(a.kind->uses_metric);
  EXPECT_FALSE(a.kind->needs_gradients);
  const std::vector<Axis> axes = a.kind->grid(a);
  ASSERT_EQ(axes.size(), 4u);
  EXPECT_EQ(axes[0].name, "site");
  EXPECT_EQ(axes[0].labels, (std::vector<std::string>{"hook_mlp_out", "hook_resid_pre"}));
  EXPECT_EQ(axes[0].values,
            (std::vector<int64_t>{static_cast<int64_t>(model::HookPoint::MlpOut),
                                  static_cast<int64_t>(model::HookPoint::ResidPre)}));
  EXPECT_EQ(axes[1].values, std::vector<int64_t>{1});
  EXPECT_EQ(axes[2].name, "token");
  EXPECT_EQ(axes[2].labels, (std::vector<std::string>{"0", "last", "-2"}));
  EXPECT_EQ(axes[2].values, (std::vector<int64_t>{0, -1, -2}));
  EXPECT_EQ(axes[3].labels, (std::vector<std::string>{"score", "control"}));
  EXPECT_EQ(a.kind->reduce.quantity_axis, "quantity");
  const nlohmann::json canonical = canonical_json(spec);
  EXPECT_EQ(canonical["analyses"][0]["options"].dump(),
            R"({"held_out":0.5,"l2":0.01,"quantities":["score","control"],"seed":4,)"
            R"("target":"class","tokens":[0,-1,-2]})");
  EXPECT_EQ(canonical["prompts"][1]["label"], 1.0);  // labels are part of the sweep's identity
}

TEST(ProbeKind, DefaultsAndFloatTargets) {
  const char* prompts =
      "prompts:\n"
      "  - {clean: [1, 2, 3], label: 0.25}\n"
      "  - {clean: [4, 5, 6], label: -1.5}\n"
      "  - {clean: [7, 8, 9], label: 3}\n"
      "  - {clean: [3, 2, 1], label: 2}\n";
  const JobSpec spec =
      parse_job_spec(probe_job("{name: p, kind: probe, target: value}", prompts), job_path());
  const AnalysisSpec& a = spec.analyses.at(0);
  const auto& o = a.options_as<ProbeOptions>();
  EXPECT_EQ(o.tokens, std::vector<int64_t>{-1});
  EXPECT_EQ(o.held_out, 0.25);
  EXPECT_EQ(a.sites, std::vector<model::HookPoint>{model::HookPoint::ResidPost});
  EXPECT_EQ(spec.prompts[1].label, -1.5);
  // A job without labels keeps its canonical prompts (and so its hash) as before.
  const JobSpec plain = parse_job_spec(
      std::string(kModel) + kPrompt + "analyses:\n  - {name: n, kind: weight_norms}\n", job_path());
  EXPECT_FALSE(canonical_json(plain)["prompts"][0].contains("label"));
}

TEST(ProbeKind, ErrorsNameFileLineColumnAndField) {
  EXPECT_EQ(parse_error(
                probe_job("{name: p, kind: probe}", "prompts:\n  - {clean: [1, 2], label: cat}\n")),
            at(4, 28, "prompts[0].label: expected a number, got \"cat\""));
  EXPECT_EQ(parse_error(probe_job("{name: p, kind: probe}",
                                  "prompts:\n  - {clean: [1, 2], label: 1e999}\n")),
            at(4, 28, "prompts[0].label: expected a number, got \"1e999\""));
  EXPECT_EQ(parse_error(probe_job("{name: p, kind: probe}",
                                  "prompts:\n  - {clean: [1, 2], label: 0}\n"
                                  "  - {id: x, clean: [3, 4]}\n")),
            at(7, 5, "analyses[0].target: prompt \"x\" has no label (give each prompt `label:`)"));
  EXPECT_EQ(parse_error(probe_job("{name: p, kind: probe}",
                                  "prompts:\n  - {id: a, clean: [1, 2], label: 0.5}\n"
                                  "  - {clean: [3, 4], label: 1}\n")),
            at(7, 5,
               "analyses[0].target: prompt \"a\": label 0.5 is not a class id (a "
               "non-negative integer); use target: value for float targets"));
  EXPECT_EQ(parse_error(probe_job("{name: p, kind: probe, tokens: [last, 4]}")),
            at(9, 43,
               "analyses[0].tokens[1]: position 4 is outside the shortest prompt (4 "
               "tokens)"));
  EXPECT_EQ(parse_error(probe_job("{name: p, kind: probe, tokens: [-1, last]}")),
            at(9, 41, "analyses[0].tokens[1]: token last listed twice"));
  EXPECT_EQ(parse_error(probe_job("{name: p, kind: probe, sites: [attn.hook_z]}")),
            at(9, 36,
               "analyses[0].sites[0]: unknown value \"attn.hook_z\"; expected one of "
               "hook_resid_pre, hook_resid_mid, hook_resid_post, hook_attn_out, hook_mlp_out"));
  EXPECT_EQ(parse_error(probe_job("{name: p, kind: probe, held_out: 0.1}")),
            at(9, 38,
               "analyses[0].held_out: holds out 0 of 4 prompts; both the training and "
               "the held-out set need one"));
  EXPECT_EQ(parse_error(probe_job("{name: p, kind: probe, held_out: 1}")),
            at(9, 38, "analyses[0].held_out: must be below 1 (a fraction of the prompts)"));
}

// circuit_faithfulness: the ranked nodes written by hand, the size axis from the empty circuit
// to the full model (the fixture: 3 layers x 4 heads, + 3 MLPs), and one-line errors.
TEST(CircuitFaithfulnessKind, SizeAxisAndOptions) {
  const std::string line =
      "  - {name: c, kind: circuit_faithfulness, nodes: [a1.h2, a0.h0, m2], universe: "
      "heads_and_mlps, sizes: [2, 1, 2], ablation: mean, threshold: 0.9, bootstrap: 50, seed: 4}";
  const JobSpec spec = parse_job_spec(analysis_job(line), job_path());
  const AnalysisSpec& a = spec.analyses.at(0);
  ASSERT_EQ(a.kind, find_kind("circuit_faithfulness"));
  const std::vector<Axis> axes = a.kind->grid(a);
  ASSERT_EQ(axes.size(), 1u);
  EXPECT_EQ(axes[0].name, "size");
  EXPECT_EQ(axes[0].values, (std::vector<int64_t>{0, 1, 2, 15}));
  EXPECT_EQ(
      canonical_json(spec)["analyses"][0]["options"].dump(),
      R"({"ablation":"mean","bootstrap":50,"nodes":["a1.h2","a0.h0","m2"],"seed":4,"sizes":[1,2],"threshold":0.9,"universe":"heads_and_mlps"})");
  const auto& o = a.options_as<CircuitFaithfulnessOptions>();
  EXPECT_EQ(o.nodes.at(2).head, -1);
  EXPECT_TRUE(a.kind->cost(a, model::ModelConfig{}).per_cell_forward);

  // Defaults: every count of the list, heads only (12), patch ablation, threshold 0.8.
  const JobSpec d = parse_job_spec(
      analysis_job("  - {name: c, kind: circuit_faithfulness, nodes: [a0.h0, a1.h3]}"), job_path());
  const AnalysisSpec& da = d.analyses.at(0);
  EXPECT_EQ(da.kind->grid(da)[0].values, (std::vector<int64_t>{0, 1, 2, 12}));
  EXPECT_EQ(
      canonical_json(d)["analyses"][0]["options"].dump(),
      R"({"ablation":"patch","bootstrap":1000,"nodes":["a0.h0","a1.h3"],"seed":0,"sizes":[1,2],"threshold":0.8,"universe":"heads"})");
  // Fractions of the list, rounded up.
  const JobSpec f = parse_job_spec(
      analysis_job("  - {name: c, kind: circuit_faithfulness, nodes: [a0.h0, a1.h3, a2.h1], "
                   "fractions: [0.1, 0.5, 1]}"),
      job_path());
  EXPECT_EQ(f.analyses[0].kind->grid(f.analyses[0])[0].values,
            (std::vector<int64_t>{0, 1, 2, 3, 12}));
}

TEST(CircuitFaithfulnessKind, ErrorsNameFileLineColumnAndField) {  // nodes, then edges
  struct Case {
    std::string keys, value, reason;  // the analysis's keys, where the error points, its reason
  };
  const std::vector<Case> cases = {
      {"nodes: [a0.h0, x1]", "x1",
       "nodes[1]: \"x1\" is neither aL.hH (a head) nor mL (an MLP), e.g. a1.h2 or m0"},
      {"nodes: [a3.h0]", "a3.h0", "nodes[0]: layer 3 out of range (model has 3 layers)"},
      {"nodes: [a0.h4]", "a0.h4", "nodes[0]: head 4 out of range (model has 4 heads)"},
      {"nodes: [m0]", "m0", "nodes[0]: m0 is an MLP: give universe: heads_and_mlps"},
      {"nodes: [a0.h1, a0.h1]", "a0.h1]", "nodes[1]: \"a0.h1\" listed twice"},
      {"nodes: [a0.h1], sizes: [2]", "2]",
       "sizes[0]: 2 is not a node count in 1..1 (the nodes listed)"},
      {"nodes: [a0.h1], fractions: [1.5]", "1.5",
       "fractions[0]: a fraction of the nodes is in (0, 1]"},
      {"nodes: [a0.h1], layers: [0]", "[0]}",
       "layers: not taken: the universe spans every layer of the model"},
      {"ablation: mean", "{name", "nodes: required: the ranked node list, e.g. [a0.h0, a1.h2, m1]"},
      {"universe: edges, edges: [a0.h0->a0.h1.q]", "a0.h0->a0.h1.q",
       "edges[0]: \"a0.h0->a0.h1.q\" is not an edge of this model"},
      {"universe: edges, edges: [m0->logits, m0->logits]", "m0->logits]",
       "edges[1]: \"m0->logits\" listed twice"},
      {"universe: edges, nodes: [a0.h0]", "[a0.h0]",
       "nodes: a circuit of edges lists edges:, e.g. [a0.h2->m1]"},
      {"edges: [m0->logits]", "[m0->logits]", "edges: a circuit of edges needs universe: edges"},
      {"universe: edges", "{name", "edges: required: the ranked edge list"},
      {"universe: edges, edges: [m0->logits], sizes: [2]", "2]",
       "sizes[0]: 2 is not an edge count in 1..1 (the edges listed)"},
  };
  for (const Case& c : cases) {
    const std::string line = "  - {name: c, kind: circuit_faithfulness, " + c.keys + "}";
    const std::string error = parse_error(analysis_job(line));
    // One line: file:line:column, the field, the reason (which may go on: "... (or from: ...)").
    EXPECT_EQ(error.rfind(analysis_error_at(line, c.value, "analyses[0]." + c.reason), 0), 0u)
        << line << "\n"
        << error;
    EXPECT_EQ(error.find('\n'), std::string::npos) << error;
  }
}

// universe: edges: edge_attribution's labels by hand, or its top edges through a stage; the size
// axis counts edges up to the fixture's 262.
TEST(CircuitFaithfulnessKind, EdgesUniverse) {
  const std::string eap = "  - {name: eap, kind: edge_attribution, method: eap}\n";
  const std::string line =
      "  - {name: c, kind: circuit_faithfulness, universe: edges, edges: [a1.h2->logits, "
      "a0.h0->a1.h2.k, embed->a0.h0.v], sizes: [1, 3]}";
  const JobSpec spec = parse_job_spec(analysis_job(eap + line), job_path());
  const AnalysisSpec& a = spec.analyses.at(1);
  EXPECT_EQ(a.kind->grid(a)[0].values, (std::vector<int64_t>{0, 1, 3, 262}));
  EXPECT_EQ(
      canonical_json(spec)["analyses"][1]["options"].dump(),
      R"({"ablation":"patch","bootstrap":1000,"edges":["a1.h2->logits","a0.h0->a1.h2.k","embed->a0.h0.v"],"seed":0,"sizes":[1,3],"threshold":0.8,"universe":"edges"})");
  const Axis all = spec.analyses[0].kind->grid(spec.analyses[0]).at(0);
  EXPECT_EQ(all.size, 262);
  const auto& o = a.options_as<CircuitFaithfulnessOptions>();
  ASSERT_EQ(o.edge_values.size(), 3u);
  for (size_t i = 0; i < 3; ++i) {
    const auto at = std::find(all.values.begin(), all.values.end(), o.edge_values[i]);
    ASSERT_NE(at, all.values.end());
    EXPECT_EQ(all.labels[static_cast<size_t>(at - all.values.begin())], o.edges[i]);
  }
  // A stage: the source must be an edge_attribution, and a circuit of heads cannot read one.
  const JobSpec staged = parse_job_spec(
      analysis_job(eap + "  - {name: c, kind: circuit_faithfulness, universe: edges, "
                         "from: {analysis: eap, top_k: 5}, sizes: [2, 5]}"),
      job_path());
  EXPECT_EQ(staged.analyses[1].kind->grid(staged.analyses[1])[0].values,
            (std::vector<int64_t>{0, 2, 5, 262}));
  EXPECT_NE(parse_error(analysis_job(eap + "  - {name: c, kind: circuit_faithfulness, "
                                           "from: {analysis: eap, top_k: 5}}"))
                .find("does not rank whole heads"),
            std::string::npos);
  const std::string atp =
      "  - {name: atp, kind: attribution_patching, sites: [attn.hook_z], patch: all_positions}\n";
  EXPECT_NE(parse_error(analysis_job(atp + "  - {name: c, kind: circuit_faithfulness, universe: "
                                           "edges, from: {analysis: atp, top_k: 5}}"))
                .find("\"atp\" is not an edge_attribution"),
            std::string::npos);
}

}  // namespace
}  // namespace csweep::jobs::testing
