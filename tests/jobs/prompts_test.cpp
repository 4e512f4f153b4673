// Prompt sets: inline pairs with several answers, JSONL files (errors at the file's own
// line:column), the seeded templates, and corpora sliced into contexts (jobs/corpus.h).
#include <fstream>

#include "jobs/prompt_templates.h"
#include "model/tokenizer/tokenizer.h"
#include "tests/jobs/job_test_util.h"

namespace csweep::jobs::testing {
namespace {

const char* kAnalyses = "analyses:\n  - {name: a, kind: logit_lens}\n";

std::filesystem::path write_jsonl(const std::string& name, const std::string& text) {
  auto dir = std::filesystem::temp_directory_path() / "csweep-jobs-test";
  std::filesystem::create_directories(dir);
  std::ofstream(dir / name) << text;
  return dir / name;
}

TEST(Prompts, SeveralAnswerPairsAndOneWrongBroadcast) {
  std::string text = std::string(kModel) +
                     "prompts:\n  - {id: two, clean: [5, 6, 7], answer: [1, 2], wrong: 3}\n" +
                     kAnalyses;
  JobSpec spec = parse_job_spec(text, job_path());
  EXPECT_EQ(spec.prompts[0].id, "two");
  EXPECT_EQ(spec.prompts[0].answers, (std::vector<int64_t>{1, 2}));
  EXPECT_EQ(spec.prompts[0].wrongs, (std::vector<int64_t>{3, 3}));
  EXPECT_EQ(spec.prompts[0].corrupted, spec.prompts[0].clean);  // corrupted defaults to clean
}

TEST(Prompts, MismatchedAnswerCounts) {
  std::string text = std::string(kModel) +
                     "prompts:\n  - {clean: [5, 6], answer: [1, 2], wrong: [3, 4, 5]}\n" +
                     kAnalyses;
  EXPECT_EQ(parse_error(text),
            at(4, 5,
               "prompts[0]: prompt \"p0\" has 2 answers but 3 wrong answers; give as many "
               "of each, or one"));
}

TEST(Prompts, JsonlFile) {
  auto file = write_jsonl(
      "ok.jsonl",
      "{\"id\": \"a\", \"clean\": [1, 2, 3], \"corrupted\": [1, 9, 3], \"answer\": 4, \"wrong\": "
      "5}\n"
      "\n"
      "{\"clean\": [7, 8], \"answer\": [4, 6], \"wrong\": [5, 7], \"subject\": [0, 1]}\n");
  std::string text =
      std::string(kModel) + "prompts:\n  - file: " + file.string() + "\n" + kAnalyses;
  JobSpec spec = parse_job_spec(text, job_path());
  ASSERT_EQ(spec.prompts.size(), 2u);
  EXPECT_EQ(spec.prompts[0].id, "a");
  EXPECT_EQ(spec.prompts[0].corrupted, (std::vector<int64_t>{1, 9, 3}));
  EXPECT_EQ(spec.prompts[1].id, "ok-3");  // file stem and line number
  EXPECT_EQ(spec.prompts[1].subject.begin, 0);
  EXPECT_EQ(spec.prompts[1].subject.end, 1);
}

TEST(Prompts, JsonlErrorsPointIntoTheJsonlFile) {
  auto file =
      write_jsonl("bad.jsonl",
                  "{\"clean\": [1, 2, 3], \"answer\": 4, \"wrong\": 5}\n"
                  "{\"clean\": [1, 2, 3], \"corrupted\": [1, 2], \"answer\": 4, \"wrong\": 5}\n"
                  "{\"clean\": [1, 2], \"answr\": 4, \"wrong\": 5}\n");
  std::string text =
      std::string(kModel) + "prompts:\n  - file: " + file.string() + "\n" + kAnalyses;
  EXPECT_EQ(
      parse_error(text),
      file.string() +
          ":2:1: line 2: prompt \"bad-2\": clean has 3 tokens but corrupted has 2; they must be "
          "the same length\n" +
          file.string() +
          ":3:1: line 3: prompt \"bad-3\" needs \"answer\" (the metric is computed on it)\n" +
          file.string() + ":3:19: unknown key \"answr\" in line 3 (did you mean \"answer\"?)");
}

TEST(Prompts, RepeatedTokensAreSeededAndShaped) {
  auto a = repeated_token_prompts("rep", 3, 42, 5, 3, 10, 20);
  auto b = repeated_token_prompts("rep", 3, 42, 5, 3, 10, 20);
  auto c = repeated_token_prompts("rep", 3, 43, 5, 3, 10, 20);
  ASSERT_EQ(a.size(), 3u);
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].clean, b[i].clean);
    EXPECT_EQ(a[i].clean.size(), 14u);  // 5 × 3 − 1
    EXPECT_EQ(a[i].corrupted.size(), 14u);
    for (size_t k = 5; k < 14; ++k) EXPECT_EQ(a[i].clean[k], a[i].clean[k - 5]);  // repeats
    EXPECT_EQ(a[i].answers[0], a[i].clean[4]);  // next token by induction
    for (int64_t t : a[i].clean) EXPECT_TRUE(t >= 10 && t < 20);
    for (size_t k = 0; k < 5; ++k)
      EXPECT_EQ(a[i].corrupted[k], a[i].clean[k]);  // first copy shared
  }
  EXPECT_NE(a[0].clean, c[0].clean);
  EXPECT_EQ(a[1].id, "rep-1");
  // corruption: first: the same clean prompts; only the first copy differs, the wrong token is
  // its last (what induction would predict from the corrupted first copy).
  auto f = repeated_token_prompts("rep", 3, 42, 5, 3, 10, 20, true);
  for (size_t i = 0; i < f.size(); ++i) {
    EXPECT_EQ(f[i].clean, a[i].clean);
    EXPECT_EQ(f[i].answers, a[i].answers);
    for (size_t k = 5; k < 14; ++k) EXPECT_EQ(f[i].corrupted[k], f[i].clean[k]);
    EXPECT_NE(std::vector<int64_t>(f[i].corrupted.begin(), f[i].corrupted.begin() + 5),
              std::vector<int64_t>(f[i].clean.begin(), f[i].clean.begin() + 5));
    EXPECT_EQ(f[i].wrongs[0], f[i].corrupted[4]);
  }
}

TEST(Prompts, RepeatedTokensTemplateInAJob) {
  std::string text = std::string(kModel) +
                     "prompts:\n  - {template: repeated_tokens, n: 2, length: 6, seed: 9}\n"
                     "analyses:\n  - {name: s, kind: attention_scores}\n";
  JobSpec spec = parse_job_spec(text, job_path());
  ASSERT_EQ(spec.prompts.size(), 2u);
  EXPECT_EQ(spec.prompts[0].n_tokens(), 11);
  EXPECT_EQ(spec.prompts[0].clean,
            repeated_token_prompts("repeated_tokens", 2, 9, 6, 2, 0, 1000)[0].clean);
  const JobSpec first =
      parse_job_spec(std::string(kModel) +
                         "prompts:\n  - {template: repeated_tokens, n: 2, length: 6, seed: 9, "
                         "corruption: first}\nanalyses:\n  - {name: s, kind: attention_scores}\n",
                     job_path());
  EXPECT_EQ(first.prompts[1].corrupted,
            repeated_token_prompts("repeated_tokens", 2, 9, 6, 2, 0, 1000, true)[1].corrupted);
}

TEST(Prompts, IoiTemplateAbbaAndBaba) {
  auto p =
      ioi_prompts("ioi", 4, 1, {"ABBA", "BABA"}, "flip", default_ioi_names(), {"store"}, {"ring"});
  ASSERT_EQ(p.size(), 4u);
  // ABBA: When A and B went to the store, B gave a ring to → A
  std::string a = p[0].answers[0].substr(1), b = p[0].wrongs[0].substr(1);
  EXPECT_EQ(p[0].clean, "When " + a + " and " + b + " went to the store, " + b + " gave a ring to");
  EXPECT_EQ(p[0].corrupted,
            "When " + a + " and " + b + " went to the store, " + a + " gave a ring to");
  a = p[1].answers[0].substr(1), b = p[1].wrongs[0].substr(1);
  EXPECT_EQ(p[1].clean, "When " + b + " and " + a + " went to the store, " + b + " gave a ring to");
  EXPECT_NE(a, b);
  auto again =
      ioi_prompts("ioi", 4, 1, {"ABBA", "BABA"}, "flip", default_ioi_names(), {"store"}, {"ring"});
  EXPECT_EQ(again[3].clean, p[3].clean);
}

TEST(Prompts, IoiTemplateNeedsATokenizer) {
  std::string text = std::string(kModel) + "prompts:\n  - {template: ioi, n: 2}\n" + kAnalyses;
  std::string dir =
      (job_path().parent_path() / "../../shared/fixtures/gpt2-tiny").lexically_normal().string();
  EXPECT_EQ(parse_error(text),
            at(4, 5,
               "prompts[0]: text prompts need a tokenizer, but " + dir +
                   " has no tokenizer.json or vocab.json + merges.txt; give token ids instead"));
}

TEST(Prompts, FactualTemplateText) {
  auto p = factual_prompts("fact", 2, default_facts());
  EXPECT_EQ(p[0].clean, "The Eiffel Tower is located in the city of");
  EXPECT_EQ(p[0].subject, "The Eiffel Tower");
  EXPECT_EQ(p[0].answers[0], " Paris");
  EXPECT_EQ(p[0].wrongs[0], " Rome");
  EXPECT_EQ(p[0].corrupted, p[0].clean);
}

// The bundled model (256 tokens, 64 positions, a byte-level BPE tokenizer) and an analysis
// that reads no metric, as a corpus needs.
constexpr const char* kCorpusModel = "model:\n  path: models/induction-2l\n";
constexpr const char* kNoMetric = "analyses:\n  - {name: a, kind: attention_scores}\n";

std::string corpus_job(const std::string& source) {
  return std::string(kCorpusModel) + "prompts:\n  - " + source + "\n" + kNoMetric;
}

TEST(Corpus, TokenIdsAreSlicedIntoContexts) {
  auto file = write_jsonl("c.tokens", "40 41 42\n43 44  45 46\n\n47 48\n");
  JobSpec spec =
      parse_job_spec(corpus_job("{corpus: " + file.string() + ", context: 4}"), job_path());
  ASSERT_EQ(spec.prompts.size(), 2u);  // 9 tokens: two contexts of 4, the last token dropped
  EXPECT_EQ(spec.prompts[0].id, "ctx0");
  EXPECT_EQ(spec.prompts[1].id, "ctx1");
  EXPECT_EQ(spec.prompts[0].clean, (std::vector<int64_t>{40, 41, 42, 43}));
  EXPECT_EQ(spec.prompts[1].clean, (std::vector<int64_t>{44, 45, 46, 47}));
  EXPECT_EQ(spec.prompts[1].corrupted, spec.prompts[1].clean);
  EXPECT_TRUE(spec.prompts[0].answers.empty());
  spec = parse_job_spec(corpus_job("{corpus: " + file.string() +
                                   ", format: tokens, context: 3, max_contexts: 2, id: doc}"),
                        job_path());
  ASSERT_EQ(spec.prompts.size(), 2u);
  EXPECT_EQ(spec.prompts[1].id, "doc1");
  EXPECT_EQ(spec.prompts[1].clean, (std::vector<int64_t>{43, 44, 45}));
}

TEST(Corpus, TextAndJsonlAreTokenisedWithTheModelsTokenizer) {
  const auto tokenizer = model::load_tokenizer(job_path().parent_path() / "models/induction-2l");
  const std::string a = "the cat sat on the mat, the cat sat on the mat", b = " and so on";
  auto text = write_jsonl("c.txt", a + b);
  JobSpec spec =
      parse_job_spec(corpus_job("{corpus: " + text.string() + ", context: 5}"), job_path());
  std::vector<int64_t> stream = tokenizer->encode(a + b);
  ASSERT_EQ(spec.prompts.size(), stream.size() / 5);
  EXPECT_EQ(spec.prompts.back().clean,
            std::vector<int64_t>(stream.begin() + 5 * (static_cast<int64_t>(stream.size()) / 5 - 1),
                                 stream.begin() + 5 * (static_cast<int64_t>(stream.size()) / 5)));
  // JSONL: each document's field tokenised on its own, the documents concatenated.
  auto jsonl =
      write_jsonl("c.jsonl", "{\"body\": \"" + a + "\", \"n\": 1}\n\n{\"body\": \"" + b + "\"}\n");
  spec = parse_job_spec(
      corpus_job("{corpus: " + jsonl.string() + ", jsonl_field: body, context: 3}"), job_path());
  stream = tokenizer->encode(a);
  const auto tail = tokenizer->encode(b);
  stream.insert(stream.end(), tail.begin(), tail.end());
  std::vector<int64_t> got;
  for (const auto& p : spec.prompts) got.insert(got.end(), p.clean.begin(), p.clean.end());
  EXPECT_EQ(got, std::vector<int64_t>(stream.begin(), stream.begin() + 3 * (stream.size() / 3)));
}

TEST(Corpus, ErrorsNameTheFileFieldAndReason) {
  auto bad = write_jsonl("bad.tokens", "40 41\n42 x 300\n");
  EXPECT_EQ(parse_error(corpus_job("{corpus: " + bad.string() + "}")),
            bad.string() + ":2:4: \"x\" is not a token id\n" + bad.string() +
                ":2:6: token id 300 out of range (vocabulary has 256 tokens)");
  auto short_file = write_jsonl("short.tokens", "40 41\n");
  EXPECT_EQ(parse_error(corpus_job("{corpus: " + short_file.string() + ", context: 3}")),
            at(4, 14,
               "prompts[0].corpus: \"" + short_file.string() +
                   "\" holds 2 tokens, fewer than one context of 3"));
  EXPECT_EQ(parse_error(corpus_job("{corpus: " + short_file.string() + ", context: 65}")),
            at(4, 25 + static_cast<int>(short_file.string().size()),
               "prompts[0].context: 65 tokens exceed the model's context of 64"));
  EXPECT_EQ(parse_error(corpus_job("{corpus: nowhere.txt}")),
            at(4, 14,
               "prompts[0].corpus: cannot read \"" + job_path().parent_path().string() +
                   "/nowhere.txt\" (no such file or not readable)"));
  auto jsonl = write_jsonl("bad.jsonl", "{\"text\": \"a\"}\n{\"txt\": \"b\"}\n[1,\n");
  EXPECT_EQ(parse_error(corpus_job("{corpus: " + jsonl.string() + "}")),
            jsonl.string() + ":2:1: \"text\": missing or not a string\n" + jsonl.string() +
                ":3:4: invalid JSON");
  // A corpus has no answers: an analysis that reads the metric cannot run on it.
  EXPECT_EQ(parse_error(std::string(kCorpusModel) + "prompts:\n  - {corpus: " +
                        short_file.string() + ", context: 2}\n" + kAnalyses),
            at(4, 14,
               "prompts[0].corpus: corpus contexts have no answers, and an analysis of this job "
               "reads the metric (use sae_feature_search)"));
}

}  // namespace
}  // namespace csweep::jobs::testing
