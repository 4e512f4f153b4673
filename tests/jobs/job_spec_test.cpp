// Parsing that succeeds: defaults, resolved axes and options, and the canonical hash.
#include <unistd.h>

#include <fstream>

#include "common/error.h"
#include "common/sha256.h"
#include "jobs/kinds/kind_options.h"
#include "tests/jobs/job_test_util.h"

namespace csweep::jobs::testing {
namespace {

TEST(JobSpec, ExampleResolvesDefaultsAndAxes) {
  JobSpec spec = load_job_spec(job_path("activation_patching.yaml"));
  EXPECT_EQ(spec.name, "activation_patching");
  EXPECT_EQ(spec.model.dtype, "float32");
  EXPECT_EQ(spec.model.path.filename(), "gpt2-tiny");
  ASSERT_EQ(spec.prompts.size(), 1u);
  EXPECT_EQ(spec.prompts[0].clean, (std::vector<int64_t>{201, 888, 641, 766, 85, 445, 885, 339}));
  EXPECT_EQ(spec.prompts[0].answers, std::vector<int64_t>{613});
  EXPECT_EQ(spec.prompts[0].wrongs, std::vector<int64_t>{486});
  ASSERT_EQ(spec.analyses.size(), 3u);
  const auto& z = spec.analyses[1];
  EXPECT_EQ(z.kind, &kind("activation_patching"));
  EXPECT_EQ(z.sites, std::vector<model::HookPoint>{model::HookPoint::AttnZ});
  EXPECT_EQ(z.layers, (std::vector<int64_t>{0, 1, 2}));
  EXPECT_EQ(z.heads, (std::vector<int64_t>{0, 1, 2, 3}));
  EXPECT_EQ(z.positions.size(), 8u);
  EXPECT_EQ(z.options_as<ActivationPatchingOptions>().direction, "denoising");
  EXPECT_TRUE(z.options_as<ActivationPatchingOptions>().per_position);
  EXPECT_FALSE(spec.analyses[2].options_as<ActivationPatchingOptions>().per_position);
  EXPECT_THROW(z.options_as<AblationOptions>(), Error);
  EXPECT_EQ(spec.sharding.batch_size, 16);
  EXPECT_EQ(spec.store, job_path("activation_patching.store"));
  EXPECT_EQ(spec.reduce.top_k, 5);
}

TEST(JobSpec, AxisSyntaxes) {
  std::string text = std::string(kModel) + kPrompt +
                     "analyses:\n"
                     "  - {name: a, kind: activation_patching, sites: attn.hook_z, layers: "
                     "\"0-1\", heads: [3, 1, 1],"
                     " positions: [0, 5-7]}\n"
                     "  - {name: b, kind: ablation, target: neuron, layers: 2, neurons: 10-12}\n";
  JobSpec spec = parse_job_spec(text, job_path());
  EXPECT_EQ(spec.analyses[0].layers, (std::vector<int64_t>{0, 1}));
  EXPECT_EQ(spec.analyses[0].heads, (std::vector<int64_t>{1, 3}));
  EXPECT_EQ(spec.analyses[0].positions, (std::vector<int64_t>{0, 5, 6, 7}));
  EXPECT_EQ(spec.analyses[1].layers, std::vector<int64_t>{2});
  EXPECT_EQ(spec.analyses[1].options_as<AblationOptions>().neurons,
            (std::vector<int64_t>{10, 11, 12}));
  EXPECT_EQ(spec.analyses[1].options_as<AblationOptions>().method, "zero");
  EXPECT_FALSE(spec.analyses[1].options->to_json().contains(
      "mean_over"));  // zero/resample hashes stay as they were
}

TEST(JobSpec, MeanAblationOverPromptsOrPromptsAndPositions) {
  std::string text = std::string(kModel) + kPrompt +
                     "analyses:\n"
                     "  - {name: a, kind: ablation, method: mean}\n"
                     "  - {name: b, kind: ablation, method: mean, mean_over: prompts}\n";
  JobSpec spec = parse_job_spec(text, job_path());
  EXPECT_EQ(spec.analyses[0].options_as<AblationOptions>().mean_over,
            "prompts_and_positions");  // TransformerLens's
  EXPECT_EQ(spec.analyses[1].options_as<AblationOptions>().mean_over, "prompts");
}

// One default per option, the documented one (docs/jobs.md), read by the planner and the
// worker alike from the typed options.
TEST(JobSpec, CausalTracingDefaults) {
  std::string text = std::string(kModel) +
                     "prompts:\n  - {clean: [1, 2, 3], corrupted: [1, 2, 4], answer: [5], wrong: "
                     "[6], subject: [0, 1]}\n"
                     "analyses:\n  - {name: t, kind: causal_tracing}\n";
  const JobSpec spec = parse_job_spec(text, job_path());  // o refers into it
  const auto& o = spec.analyses[0].options_as<CausalTracingOptions>();
  EXPECT_EQ(o.samples, 10);
  EXPECT_EQ(o.window, 1);
  EXPECT_EQ(o.noise_multiplier, 3.0);
  EXPECT_FALSE(o.noise_std.has_value());
  EXPECT_EQ(o.restore, "resid");
}

TEST(JobSpec, MemoryBudgetUnits) {
  std::string text = std::string(kModel) + kPrompt +
                     "analyses:\n  - {name: a, kind: logit_lens}\n" +
                     "sharding: {memory_budget: 2GiB, batch_size: 8}\n";
  JobSpec spec = parse_job_spec(text, job_path());
  EXPECT_EQ(spec.sharding.memory_budget_bytes, 2ull << 30);
  EXPECT_EQ(spec.sharding.batch_size, 8);
}

TEST(Sha256, KnownVectors) {
  EXPECT_EQ(sha256_hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(sha256_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

TEST(CanonicalHash, IndependentOfKeyOrderFormattingAndDefaults) {
  std::string a =
      std::string(kModel) + kPrompt +
      "analyses:\n  - {name: x, kind: causal_tracing, noise_multiplier: 3.0, layers: all}\n";
  std::string b =
      "analyses:\n"
      "  - kind: causal_tracing\n"
      "    name: x\n"
      "    layers: [2, 0, 1]\n"
      "metric: logit_diff\n"
      "prompts:\n"
      "  - {wrong: 486, answer: [613], clean: [201, 888, 641, 766, 85, 445, 885, 339],"
      "     corrupted: [201, 888, 45, 766, 85, 122, 885, 339]}\n"
      "model: {dtype: float32, path: ../../shared/fixtures/gpt2-tiny}\n";
  // causal tracing needs subjects: add the same span to both
  a.insert(a.find("    answer"), "    subject: [1, 2]\n");
  b.insert(b.find("wrong: 486"), "subject: [1, 2], ");
  JobSpec sa = parse_job_spec(a, job_path());
  JobSpec sb = parse_job_spec(b, job_path());
  EXPECT_EQ(canonical_json(sa).dump(), canonical_json(sb).dump());
  EXPECT_EQ(canonical_hash(sa, "m"), canonical_hash(sb, "m"));
  EXPECT_EQ(canonical_hash(sa, "m").size(), 64u);
  EXPECT_EQ(canonical_json(sa)["analyses"][0]["options"]["noise_multiplier"].dump(), "3");
}

TEST(CanonicalHash, ChangesWithWhatChangesResultsOnly) {
  std::string base = std::string(kModel) + kPrompt + "analyses:\n  - {name: x, kind: logit_lens}\n";
  auto hash = [](const std::string& yaml) {
    return canonical_hash(parse_job_spec(yaml, job_path()), "m");
  };
  std::string h = hash(base);
  EXPECT_NE(h, hash(base + "metric: prob\n"));
  std::string other_layers =
      std::string(kModel) + kPrompt + "analyses:\n  - {name: x, kind: logit_lens, layers: [0]}\n";
  EXPECT_NE(h, hash(other_layers));
  EXPECT_NE(h, hash(base + "sharding: {batch_size: 4}\n"));
  // where it runs and what reduce does afterwards leave the sweep the same
  EXPECT_EQ(h, hash(base + "store: elsewhere\nreduce: {top_k: 3}\n"));
}

// The model is its content: the same folder named another way (a moved project, a symlink)
// keeps the hash; other weights change it.
TEST(CanonicalHash, ModelIsItsContentNotItsPath) {
  const std::string rest = std::string(kPrompt) + "analyses:\n  - {name: x, kind: logit_lens}\n";
  const JobSpec here = parse_job_spec(std::string(kModel) + rest, job_path());
  const auto link =
      std::filesystem::temp_directory_path() / ("csweep-model-link-" + std::to_string(::getpid()));
  std::filesystem::remove(link);
  std::filesystem::create_directory_symlink(std::filesystem::absolute(here.model.path), link);
  const JobSpec elsewhere =
      parse_job_spec("model:\n  path: " + link.string() + "\n" + rest, job_path());
  std::filesystem::remove(link);
  EXPECT_NE(canonical_json(here)["model"]["path"], canonical_json(elsewhere)["model"]["path"]);
  EXPECT_EQ(canonical_hash(here, "content-a"), canonical_hash(elsewhere, "content-a"));
  EXPECT_NE(canonical_hash(here, "content-a"), canonical_hash(here, "content-b"));
}

}  // namespace
}  // namespace csweep::jobs::testing
