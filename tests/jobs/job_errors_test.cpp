// Every class of job-file mistake, each checked for its exact "file:line:column: reason".
#include "tests/jobs/job_test_util.h"

namespace csweep::jobs::testing {
namespace {

// model (lines 1-2) + prompts (3-7) + what follows from line 8.
std::string job(const std::string& rest) { return std::string(kModel) + kPrompt + rest; }

TEST(JobErrors, UnknownTopLevelKeySuggestsTheClosestOne) {
  EXPECT_EQ(parse_error(job("analysis:\n  - {name: a, kind: logit_lens}\n")),
            at(8, 1, "unknown key \"analysis\" (did you mean \"analyses\"?)") + "\n" +
                job_path().string() + ": analyses: missing (list at least one analysis)");
}

TEST(JobErrors, UnknownAnalysisKeyNamesTheAnalysis) {
  EXPECT_EQ(
      parse_error(
          job("analyses:\n  - name: a\n    kind: activation_patching\n    sites: [hook_resid_pre]\n"
              "    layer: [0]\n")),
      at(12, 5, "unknown key \"layer\" in analyses[0] (did you mean \"layers\"?)"));
}

TEST(JobErrors, UnknownKeyWithNothingCloseHasNoSuggestion) {
  EXPECT_EQ(parse_error(job("analyses:\n  - {name: a, kind: logit_lens, frobnicate: 1}\n")),
            at(9, 33, "unknown key \"frobnicate\" in analyses[0]"));
}

TEST(JobErrors, WrongTypes) {
  std::string text =
      std::string("model:\n  path: ../../shared/fixtures/gpt2-tiny\n  tensor_parallel: two\n") +
      kPrompt +
      "analyses:\n  - {name: a, kind: logit_lens, layers: {x: 1}}\nsharding:\n  batch_size: [4]\n";
  EXPECT_EQ(
      parse_error(text),
      at(3, 20, "model.tensor_parallel: expected an integer, got \"two\"") + "\n" +
          at(10, 41, "analyses[0].layers: expected an index, a range \"a-b\" or all, got a map") +
          "\n" + at(12, 15, "sharding.batch_size: expected an integer, got a sequence"));
}

TEST(JobErrors, GradientKindsAreRefusedUnderTensorParallelism) {
  const std::string analyses =
      "analyses:\n  - {name: a, kind: activation_patching, sites: [attn.hook_z]}\n"
      "  - {name: b, kind: attribution_patching, sites: [attn.hook_z]}\n";
  const std::string tp2 = std::string(kModel) + "  tensor_parallel: 2\n" + kPrompt + analyses;
  EXPECT_EQ(parse_error(tp2),
            at(3, 20,
               "model.tensor_parallel: 2: analysis \"b\" (attribution_patching) needs gradients "
               "through the collectives, which tensor parallelism does not support; use 1"));
  // One process, or a tensor-parallel group with kinds that need no gradients: accepted.
  EXPECT_EQ(parse_error(std::string(kModel) + "  tensor_parallel: 1\n" + kPrompt + analyses), "");
  EXPECT_EQ(
      parse_error(std::string(kModel) + "  tensor_parallel: 2\n" + kPrompt +
                  "analyses:\n  - {name: a, kind: activation_patching, sites: [attn.hook_z]}\n"),
      "");
}

// tensor_parallel: auto is read as 0 (plan and run choose the size) and written as "auto" in
// the canonical form; any other word is an error that names it.
TEST(JobErrors, TensorParallelAutoIsTheOneWordAccepted) {
  const std::string analyses =
      "analyses:\n  - {name: a, kind: activation_patching, sites: [attn.hook_z]}\n";
  const std::string text = std::string(kModel) + "  tensor_parallel: auto\n" + kPrompt + analyses;
  EXPECT_EQ(parse_error(text), "");
  const JobSpec spec = parse_job_spec(text, job_path());
  EXPECT_EQ(spec.model.tensor_parallel, 0);
  EXPECT_EQ(canonical_json(spec)["model"]["tensor_parallel"], "auto");
  EXPECT_EQ(parse_error(std::string(kModel) + "  tensor_parallel: 0\n" + kPrompt + analyses),
            at(3, 20, "model.tensor_parallel: must be at least 1 (or auto)"));
}

TEST(JobErrors, UnknownEnumValueSuggests) {
  EXPECT_EQ(
      parse_error(job("metric: logit_dif\nanalyses:\n  - {name: a, kind: logit_lense}\n")),
      at(8, 9,
         "metric: unknown value \"logit_dif\" (did you mean \"logit_diff\"?); expected one of "
         "logit_diff, prob, logprob, kl") +
          "\n" +
          at(10, 21,
             "analyses[0].kind: unknown value \"logit_lense\" (did you mean \"logit_lens\"?); "
             "expected one of activation_patching, ablation, causal_tracing, logit_lens, "
             "direct_logit_attribution, attention_scores, attribution_patching, weight_norms, "
             "head_circuits, composition_scores, steering, sae_feature_ablation, "
             "sae_feature_patching, sae_feature_attribution, sae_feature_search, path_patching, "
             "edge_attribution, probe, circuit_faithfulness"));
}

TEST(JobErrors, LayerOutOfRange) {
  EXPECT_EQ(parse_error(job("analyses:\n  - {name: a, kind: logit_lens, layers: [0, 3]}\n")),
            at(9, 45, "analyses[0].layers[1]: layer 3 out of range (model has 3 layers: 0..2)"));
}

TEST(JobErrors, LayerRangeOutOfRange) {
  EXPECT_EQ(parse_error(job("analyses:\n  - {name: a, kind: logit_lens, layers: 1-5}\n")),
            at(9, 41, "analyses[0].layers: layer 5 out of range (model has 3 layers: 0..2)"));
}

TEST(JobErrors, HeadOutOfRange) {
  EXPECT_EQ(parse_error(job("analyses:\n  - name: a\n    kind: ablation\n    heads: [1, 4]\n")),
            at(11, 16, "analyses[0].heads[1]: head 4 out of range (model has 4 heads: 0..3)"));
}

TEST(JobErrors, MeanOverOnlyWithMeanAblation) {
  EXPECT_EQ(
      parse_error(job("analyses:\n  - name: a\n    kind: ablation\n    mean_over: prompts\n")),
      at(11, 16, "analyses[0].mean_over: only method mean takes a mean"));
  EXPECT_EQ(
      parse_error(job(
          "analyses:\n  - name: a\n    kind: ablation\n    method: mean\n    mean_over: tokens\n")),
      at(12, 16,
         "analyses[0].mean_over: unknown value \"tokens\"; expected one of prompts_and_positions, "
         "prompts"));
}

TEST(JobErrors, PositionOutOfRange) {
  EXPECT_EQ(
      parse_error(
          job("analyses:\n  - name: a\n    kind: activation_patching\n    sites: [hook_resid_pre]\n"
              "    positions: [8]\n")),
      at(12, 17,
         "analyses[0].positions[0]: position 8 out of range (shortest prompt has 8 tokens)"));
}

TEST(JobErrors, UnknownHookSiteSuggests) {
  EXPECT_EQ(
      parse_error(job(
          "analyses:\n  - name: a\n    kind: activation_patching\n    sites: [attn.hook_zz]\n")),
      at(11, 13,
         "analyses[0].sites[0]: unknown hook site \"attn.hook_zz\" (did you mean "
         "\"attn.hook_z\"?)"));
}

// One mistake, one line: the unknown site's missing head axis is not reported a second time.
TEST(JobErrors, UnknownHeadSiteWithHeadsIsOneError) {
  EXPECT_EQ(parse_error(job("analyses:\n  - name: a\n    kind: activation_patching\n"
                            "    sites: [attn.hook_zz]\n    heads: [0, 1]\n")),
            at(11, 13,
               "analyses[0].sites[0]: unknown hook site \"attn.hook_zz\" (did you mean "
               "\"attn.hook_z\"?)"));
}

TEST(JobErrors, HookSiteMissingFromTheArchitecture) {
  EXPECT_EQ(
      parse_error(
          job("analyses:\n  - {name: a, kind: activation_patching, sites: attn.hook_rot_q}\n")),
      at(9, 49,
         "analyses[0].sites: hook site \"attn.hook_rot_q\" does not exist in this model: this "
         "architecture has no rotary embedding"));
}

TEST(JobErrors, FullHookNameOutOfRangeNamesTheLayer) {
  EXPECT_EQ(
      parse_error(job(
          "analyses:\n  - {name: a, kind: activation_patching, sites: [blocks.5.attn.hook_z]}\n")),
      at(9, 50, "analyses[0].sites[0]: layer 5 out of range (model has 3 layers: 0..2)"));
}

TEST(JobErrors, EmptyAxis) {
  EXPECT_EQ(parse_error(job("analyses:\n  - {name: a, kind: attention_scores, heads: []}\n")),
            at(9, 46, "analyses[0].heads: empty axis (list at least one head or write all)"));
}

TEST(JobErrors, MissingModelDirectory) {
  std::string missing = (job_path().parent_path() / "no-such-model").lexically_normal().string();
  EXPECT_EQ(parse_error(std::string("model:\n  path: no-such-model\n") + kPrompt +
                        "analyses:\n  - {name: a, kind: logit_lens}\n"),
            at(2, 9, "model.path: no such directory \"" + missing + "\""));
}

TEST(JobErrors, MissingPromptFile) {
  std::string missing = (job_path().parent_path() / "nope.jsonl").string();
  EXPECT_EQ(
      parse_error(std::string(kModel) +
                  "prompts:\n  - file: nope.jsonl\nanalyses:\n  - {name: a, kind: logit_lens}\n"),
      at(4, 11, "prompts[0].file: cannot read \"" + missing + "\" (no such file or not readable)"));
}

TEST(JobErrors, MissingJobFile) {
  try {
    load_job_spec("/nonexistent/job.yaml");
    FAIL() << "no error";
  } catch (const csweep::Error& e) {
    EXPECT_STREQ(e.what(),
                 "/nonexistent/job.yaml: cannot read the job file (no such file or not readable)");
  }
}

TEST(JobErrors, YamlSyntaxError) {
  EXPECT_EQ(parse_error("model:\n  path: [unclosed\n"),
            at(3, 1, "YAML syntax error: end of sequence flow not found"));
}

TEST(JobErrors, CleanAndCorruptedLengthsDiffer) {
  std::string text = std::string(kModel) +
                     "prompts:\n  - id: short\n    clean: [1, 2, 3]\n    corrupted: [1, 2]\n    "
                     "answer: 4\n    wrong: 5\n"
                     "analyses:\n  - {name: a, kind: logit_lens}\n";
  EXPECT_EQ(parse_error(text), at(4, 5,
                                  "prompts[0]: prompt \"short\": clean has 3 tokens but corrupted "
                                  "has 2; they must be the same "
                                  "length"));
}

TEST(JobErrors, TokenIdOutsideTheVocabulary) {
  std::string text = std::string(kModel) +
                     "prompts:\n  - {clean: [1, 1000], answer: 4, wrong: 5}\n" +
                     "analyses:\n  - {name: a, kind: logit_lens}\n";
  EXPECT_EQ(
      parse_error(text),
      at(4, 17, "prompts[0].clean[1]: token id 1000 out of range (vocabulary has 1000 tokens)"));
}

TEST(JobErrors, TextPromptWithoutTokenizerIsOneClearError) {
  std::string text = std::string(kModel) +
                     "prompts:\n  - {clean: \"Hello there\", answer: 4, wrong: 5}\n" +
                     "analyses:\n  - {name: a, kind: logit_lens}\n";
  std::string dir =
      (job_path().parent_path() / "../../shared/fixtures/gpt2-tiny").lexically_normal().string();
  EXPECT_EQ(parse_error(text),
            at(4, 13,
               "prompts[0].clean: text prompts need a tokenizer, but " + dir +
                   " has no tokenizer.json or vocab.json + merges.txt; give token ids instead"));
}

TEST(JobErrors, MissingAnswerForTheMetric) {
  std::string text = std::string(kModel) +
                     "prompts:\n  - {clean: [1, 2]}\nanalyses:\n  - {name: a, kind: logit_lens}\n";
  EXPECT_EQ(parse_error(text),
            at(4, 5, "prompts[0]: prompt \"p0\" needs \"answer\" (the metric is computed on it)") +
                "\n" + at(4, 5, "prompts[0]: prompt \"p0\" needs \"wrong\" (metric logit_diff)"));
}

TEST(JobErrors, CausalTracingNeedsASubject) {
  EXPECT_EQ(
      parse_error(job("analyses:\n  - {name: t, kind: causal_tracing}\n")),
      at(9, 21,
         "analyses[0]: causal_tracing needs a subject span on every prompt; prompt \"p0\" has none "
         "(set subject: [begin, end])"));
}

TEST(JobErrors, AssertionNamesAnUnknownAnalysis) {
  EXPECT_EQ(
      parse_error(
          job("analyses:\n  - {name: dla, kind: direct_logit_attribution}\nvalidation:\n"
              "  assertions:\n    - {analysis: dlaa, expect: top_head, layer: 1, head: 9}\n")),
      at(12, 18,
         "validation.assertions[0].analysis: no analysis named \"dlaa\" (did you mean \"dla\"?)") +
          "\n" +
          at(12, 58,
             "validation.assertions[0].head: head 9 out of range (model has 4 heads: 0..3)"));
}

TEST(JobErrors, AllErrorsAtOnceInFileOrder) {
  std::string text =
      std::string("model:\n  path: ../../shared/fixtures/gpt2-tiny\n  dtype: float64\n") + kPrompt +
      "analyses:\n"
      "  - {name: a, kind: logit_lens, layers: [7]}\n"
      "  - {name: a, kind: attention_scores}\n"
      "sharding: {memory_budget: lots}\n";
  EXPECT_EQ(
      parse_error(text),
      at(3, 10,
         "model.dtype: unknown value \"float64\" (did you mean \"float32\"?); expected one of "
         "float32, "
         "bfloat16, float16") +
          "\n" +
          at(10, 42, "analyses[0].layers[0]: layer 7 out of range (model has 3 layers: 0..2)") +
          "\n" + at(11, 12, "analyses[1].name: duplicate analysis name \"a\"") + "\n" +
          at(12, 27,
             "sharding.memory_budget: expected a positive size such as 2GiB or 512MiB, got "
             "\"lots\""));
}

}  // namespace
}  // namespace csweep::jobs::testing
