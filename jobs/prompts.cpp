#include "jobs/prompts.h"

#include <fstream>
#include <set>

#include "jobs/corpus.h"
#include "jobs/prompt_templates.h"
#include "jobs/yaml_fields.h"

namespace csweep::jobs {
namespace {

const std::vector<std::string> kEntryKeys = {"id",    "clean",   "corrupted", "answer",
                                             "wrong", "subject", "label"};
const std::vector<std::string> kTemplates = {"ioi", "factual", "repeated_tokens"};

// What one job's prompt list may hold, checked before a template generates anything: every
// prompt is a row of layout.json, of every result table and of the plan's shard list, and
// its tokens are held in memory by every rank (docs/jobs.md).
constexpr int64_t kMaxPrompts = int64_t(1) << 20;
constexpr int64_t kMaxPromptTokens = int64_t(1)
                                     << 24;  // clean tokens over all prompts (128 MiB of ids)

bool is_plain_int(const YAML::Node& n) {
  if (!n.IsScalar() || n.Tag() == "!") return false;  // "!" marks a quoted scalar
  const std::string& s = n.Scalar();
  if (s.empty()) return false;
  for (size_t i = (s[0] == '-' ? 1 : 0); i < s.size(); ++i)
    if (s[i] < '0' || s[i] > '9') return false;
  return s != "-";
}

// Token ids (a sequence of integers) or text (a string).
std::optional<std::vector<int64_t>> read_tokens(const Source& src, const YAML::Node& node,
                                                const std::string& path, const PromptContext& ctx,
                                                std::string* text) {
  if (node.IsSequence()) {
    std::vector<int64_t> ids;
    bool ok = true;
    if (node.size() == 0) {
      src.error(node, path + ": empty prompt");
      return std::nullopt;
    }
    for (size_t i = 0; i < node.size(); ++i) {
      auto v = read_int(src, node[i], path + "[" + std::to_string(i) + "]");
      if (!v) {
        ok = false;
        continue;
      }
      if (ctx.config && (*v < 0 || *v >= ctx.config->d_vocab)) {
        src.error(node[i], path + "[" + std::to_string(i) + "]: token id " + std::to_string(*v) +
                               " out of range (vocabulary has " +
                               std::to_string(ctx.config->d_vocab) + " tokens)");
        ok = false;
        continue;
      }
      ids.push_back(*v);
    }
    if (!ok) return std::nullopt;
    return ids;
  }
  if (node.IsScalar()) {
    if (text) *text = node.Scalar();
    auto ids = ctx.encoder->encode_prompt(src, node, path, node.Scalar());
    if (ids && ids->empty()) {
      src.error(node, path + ": the text encodes to no tokens");
      return std::nullopt;
    }
    return ids;
  }
  src.error(node,
            path + ": expected token ids (a sequence of integers) or text, got " + describe(node));
  return std::nullopt;
}

// One answer: a plain integer is a token id, a string must encode to exactly one token.
std::optional<int64_t> read_answer_token(const Source& src, const YAML::Node& node,
                                         const std::string& path, const PromptContext& ctx) {
  if (is_plain_int(node)) {
    auto v = read_int(src, node, path);
    if (v && ctx.config && (*v < 0 || *v >= ctx.config->d_vocab)) {
      src.error(node, path + ": token id " + std::to_string(*v) + " out of range (vocabulary has " +
                          std::to_string(ctx.config->d_vocab) + " tokens)");
      return std::nullopt;
    }
    return v;
  }
  if (!node.IsScalar()) {
    src.error(node, path + ": expected a token id or text, got " + describe(node));
    return std::nullopt;
  }
  auto ids = ctx.encoder->encode(src, node, path, node.Scalar());
  if (!ids) return std::nullopt;
  if (ids->size() != 1) {
    src.error(node, path + ": \"" + node.Scalar() + "\" is " + std::to_string(ids->size()) +
                        " tokens; an answer must be one token");
    return std::nullopt;
  }
  return ids->front();
}

std::optional<std::vector<int64_t>> read_answers(const Source& src, const YAML::Node& node,
                                                 const std::string& path,
                                                 const PromptContext& ctx) {
  std::vector<int64_t> out;
  if (node.IsSequence()) {
    if (node.size() == 0) {
      src.error(node, path + ": empty list");
      return std::nullopt;
    }
    bool ok = true;
    for (size_t i = 0; i < node.size(); ++i) {
      auto t = read_answer_token(src, node[i], path + "[" + std::to_string(i) + "]", ctx);
      if (t) out.push_back(*t);
      ok = ok && t.has_value();
    }
    if (!ok) return std::nullopt;
    return out;
  }
  auto t = read_answer_token(src, node, path, ctx);
  if (!t) return std::nullopt;
  return std::vector<int64_t>{*t};
}

// Token span [begin, end) of `subject` inside the clean text, by encoding the text before it.
std::optional<TokenSpan> locate_subject(const Source& src, const YAML::Node& at,
                                        const std::string& path, const std::string& clean_text,
                                        const std::string& subject, const PromptContext& ctx) {
  size_t where = clean_text.find(subject);
  if (subject.empty() || where == std::string::npos) {
    src.error(at, path + ": subject \"" + subject + "\" does not occur in the clean prompt");
    return std::nullopt;
  }
  // Encoded as the prompt is (BOS included), so the span indexes the prompt's tokens.
  auto before = ctx.encoder->encode_prompt(src, at, path, clean_text.substr(0, where));
  auto through =
      ctx.encoder->encode_prompt(src, at, path, clean_text.substr(0, where + subject.size()));
  if (!before || !through) return std::nullopt;
  return TokenSpan{static_cast<int64_t>(before->size()), static_cast<int64_t>(through->size())};
}

// Checks shared by every source: equal lengths, context size, answer/wrong pairing, subject.
bool check_pair(const Source& src, const YAML::Node& at, const std::string& path, PromptPair& p,
                const PromptContext& ctx) {
  bool ok = true;
  if (p.clean.size() != p.corrupted.size()) {
    src.error(at, path + ": prompt \"" + p.id + "\": clean has " + std::to_string(p.clean.size()) +
                      " tokens but corrupted has " + std::to_string(p.corrupted.size()) +
                      "; they must be the same length");
    ok = false;
  }
  if (ctx.config && static_cast<int64_t>(p.clean.size()) > ctx.config->n_ctx) {
    src.error(at, path + ": prompt \"" + p.id + "\" has " + std::to_string(p.clean.size()) +
                      " tokens, more than the model's context of " +
                      std::to_string(ctx.config->n_ctx));
    ok = false;
  }
  if (ctx.need_answer && p.answers.empty()) {
    src.error(at,
              path + ": prompt \"" + p.id + "\" needs \"answer\" (the metric is computed on it)");
    ok = false;
  }
  if (ctx.need_wrong && p.wrongs.empty()) {
    src.error(at, path + ": prompt \"" + p.id + "\" needs \"wrong\" (metric logit_diff)");
    ok = false;
  }
  if (!p.answers.empty() && !p.wrongs.empty() && p.answers.size() != p.wrongs.size()) {
    if (p.answers.size() == 1)
      p.answers.resize(p.wrongs.size(), p.answers[0]);
    else if (p.wrongs.size() == 1)
      p.wrongs.resize(p.answers.size(), p.wrongs[0]);
    else {
      src.error(at, path + ": prompt \"" + p.id + "\" has " + std::to_string(p.answers.size()) +
                        " answers but " + std::to_string(p.wrongs.size()) +
                        " wrong answers; give as many of each, or one");
      ok = false;
    }
  }
  if (!p.subject.empty() && p.subject.end > static_cast<int64_t>(p.clean.size())) {
    src.error(at, path + ": prompt \"" + p.id + "\": subject span ends at " +
                      std::to_string(p.subject.end) + " beyond its " +
                      std::to_string(p.clean.size()) + " tokens");
    ok = false;
  }
  return ok;
}

std::optional<PromptPair> read_entry(const Source& src, const YAML::Node& entry,
                                     const std::string& path, const std::string& default_id,
                                     const PromptContext& ctx) {
  if (!expect_map(src, entry, path)) return std::nullopt;
  check_keys(src, entry, path, kEntryKeys);
  PromptPair p;
  p.id = default_id;
  bool ok = true;
  if (entry["id"]) {
    auto id = read_string(src, entry["id"], path + ".id");
    if (id) p.id = *id;
    ok = ok && id.has_value();
  }
  if (!entry["clean"]) {
    src.error(entry, path + ": missing \"clean\"");
    return std::nullopt;
  }
  auto clean = read_tokens(src, entry["clean"], path + ".clean", ctx, &p.clean_text);
  if (clean) p.clean = *clean;
  ok = ok && clean.has_value();
  if (entry["corrupted"]) {
    auto corrupted =
        read_tokens(src, entry["corrupted"], path + ".corrupted", ctx, &p.corrupted_text);
    if (corrupted) p.corrupted = *corrupted;
    ok = ok && corrupted.has_value();
  } else {
    p.corrupted = p.clean;
    p.corrupted_text = p.clean_text;
  }
  if (entry["answer"]) {
    auto a = read_answers(src, entry["answer"], path + ".answer", ctx);
    if (a) p.answers = *a;
    ok = ok && a.has_value();
  }
  if (entry["wrong"]) {
    auto w = read_answers(src, entry["wrong"], path + ".wrong", ctx);
    if (w) p.wrongs = *w;
    ok = ok && w.has_value();
  }
  if (entry["label"]) {  // a class id or a float target; the probe kind checks which
    auto label = read_double(src, entry["label"], path + ".label");
    if (label) p.label = *label;
    ok = ok && label.has_value();
  }
  if (const YAML::Node s = entry["subject"]) {
    if (s.IsSequence() && s.size() == 2) {
      auto b = read_int(src, s[0], path + ".subject[0]");
      auto e = read_int(src, s[1], path + ".subject[1]");
      if (b && e && (*b < 0 || *e <= *b)) {
        src.error(s, path + ".subject: expected a token span [begin, end) with 0 <= begin < end");
        ok = false;
      } else if (b && e) {
        p.subject = {*b, *e};
      } else {
        ok = false;
      }
    } else if (s.IsScalar() && !p.clean_text.empty()) {
      auto span = locate_subject(src, s, path + ".subject", p.clean_text, s.Scalar(), ctx);
      if (span) p.subject = *span;
      ok = ok && span.has_value();
    } else {
      src.error(s, path + ".subject: expected a token span [begin, end)" +
                       std::string(p.clean_text.empty() ? "" : " or text inside the clean prompt") +
                       ", got " + describe(s));
      ok = false;
    }
  }
  if (!ok) return std::nullopt;
  if (!check_pair(src, entry, path, p, ctx)) return std::nullopt;
  return p;
}

void read_jsonl(const YAML::Node& source, const std::string& path, const PromptContext& ctx,
                std::vector<PromptPair>& out) {
  const Source& src = ctx.src;
  check_keys(src, source, path, {"file"});
  auto name = read_string(src, source["file"], path + ".file");
  if (!name) return;
  std::filesystem::path file = ctx.base_dir / *name;
  std::ifstream in(file);
  if (!in) {
    src.error(source["file"],
              path + ".file: cannot read \"" + file.string() + "\" (no such file or not readable)");
    return;
  }
  Source line_src{src.diag, file.string(), 0};
  std::string line;
  int line_no = 0;
  size_t before = out.size();
  while (std::getline(in, line)) {
    ++line_no;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    line_src.line_offset = line_no - 1;
    YAML::Node entry;
    try {
      entry = YAML::Load(line);
    } catch (const YAML::ParserException& e) {
      line_src.error(e.mark, "invalid JSON: " + e.msg);
      continue;
    }
    auto p = read_entry(line_src, entry, "line " + std::to_string(line_no),
                        file.stem().string() + "-" + std::to_string(line_no), ctx);
    if (p) out.push_back(std::move(*p));
  }
  if (out.size() == before && line_no == 0)
    src.error(source["file"], path + ".file: \"" + file.string() + "\" holds no prompts");
}

std::vector<std::string> read_words(const Source& src, const YAML::Node& node,
                                    const std::string& path,
                                    const std::vector<std::string>& fallback, size_t at_least) {
  if (!node) return fallback;
  std::vector<std::string> words;
  if (!expect_sequence(src, node, path)) return fallback;
  for (size_t i = 0; i < node.size(); ++i) {
    auto w = read_string(src, node[i], path + "[" + std::to_string(i) + "]");
    if (w) words.push_back(*w);
  }
  if (words.size() < at_least) {
    src.error(node, path + ": needs at least " + std::to_string(at_least) + " entries, got " +
                        std::to_string(words.size()));
    return fallback;
  }
  return words;
}

// Tokenises text prompts made by a template, reporting problems at the template node.
void tokenise_text_prompts(const YAML::Node& at, const std::string& path,
                           const std::vector<TextPrompt>& texts, const PromptContext& ctx,
                           std::vector<PromptPair>& out) {
  const Source& src = ctx.src;
  for (const auto& t : texts) {
    size_t errors_before = src.diag->count();
    PromptPair p;
    p.id = t.id;
    p.clean_text = t.clean;
    p.corrupted_text = t.corrupted;
    auto clean = ctx.encoder->encode_prompt(src, at, path, t.clean);
    if (!clean) return;  // no tokenizer: one message is enough
    auto corrupted = ctx.encoder->encode_prompt(src, at, path, t.corrupted);
    if (!corrupted) return;
    p.clean = *clean;
    p.corrupted = *corrupted;
    auto single = [&](const std::string& word, std::vector<int64_t>& into) {
      auto ids = ctx.encoder->encode(src, at, path, word);
      if (!ids) return;
      if (ids->size() != 1) {
        src.error(at, path + ": prompt \"" + t.id + "\": answer \"" + word + "\" is " +
                          std::to_string(ids->size()) + " tokens; an answer must be one token");
        return;
      }
      into.push_back(ids->front());
    };
    for (const auto& a : t.answers) single(a, p.answers);
    for (const auto& w : t.wrongs) single(w, p.wrongs);
    if (!t.subject.empty()) {
      auto span = locate_subject(src, at, path, t.clean, t.subject, ctx);
      if (span) p.subject = *span;
    }
    if (src.diag->count() != errors_before) return;
    if (!check_pair(src, at, path, p, ctx)) return;
    out.push_back(std::move(p));
  }
}

void read_template(const YAML::Node& source, const std::string& path, const PromptContext& ctx,
                   std::vector<PromptPair>& out) {
  const Source& src = ctx.src;
  auto kind = read_choice(src, source["template"], path + ".template", kTemplates);
  if (!kind) return;
  std::vector<std::string> keys = {"template", "id", "n", "seed"};
  if (*kind == "ioi")
    keys.insert(keys.end(), {"patterns", "corruption", "names", "places", "objects"});
  if (*kind == "factual") keys.insert(keys.end(), {"facts"});
  if (*kind == "repeated_tokens")
    keys.insert(keys.end(), {"length", "repeats", "low", "high", "corruption"});
  check_keys(src, source, path, keys);

  std::string prefix = *kind;
  if (source["id"]) prefix = read_string(src, source["id"], path + ".id").value_or(prefix);
  uint64_t seed = ctx.default_seed;
  if (source["seed"]) {
    auto s = read_int(src, source["seed"], path + ".seed");
    if (s && *s < 0) src.error(source["seed"], path + ".seed: must be >= 0");
    if (s && *s >= 0) seed = static_cast<uint64_t>(*s);
  }
  auto positive = [&](const char* key, int64_t fallback,
                      int64_t minimum) -> std::optional<int64_t> {
    if (!source[key]) return fallback;
    auto v = read_int(src, source[key], path + "." + key);
    if (!v) return std::nullopt;
    if (*v < minimum) {
      src.error(source[key], path + "." + key + ": must be at least " + std::to_string(minimum));
      return std::nullopt;
    }
    return v;
  };

  // The number of prompts a template makes: within what the job may still hold.
  auto count = [&](int64_t fallback) -> std::optional<int64_t> {
    auto n = positive("n", fallback, 1);
    const int64_t room = kMaxPrompts - static_cast<int64_t>(out.size());
    if (n && *n > room) {
      src.error(source["n"], path + ".n: " + std::to_string(*n) + " prompts exceed the limit of " +
                                 std::to_string(kMaxPrompts) + " prompts per job");
      return std::nullopt;
    }
    return n;
  };

  if (*kind == "repeated_tokens") {
    auto n = count(8);
    auto length = positive("length", 10, 1);
    auto repeats = positive("repeats", 2, 2);
    auto low = positive("low", 0, 0);
    int64_t vocab = ctx.config ? ctx.config->d_vocab : 0;
    auto high = positive("high", vocab, 1);
    std::string corruption = "later";
    if (source["corruption"])
      corruption = read_choice(src, source["corruption"], path + ".corruption", {"later", "first"})
                       .value_or(corruption);
    if (!n || !length || !repeats || !low || !high) return;
    if (ctx.config && *high > vocab) {
      src.error(source["high"], path + ".high: " + std::to_string(*high) +
                                    " is beyond the vocabulary (" + std::to_string(vocab) +
                                    " tokens)");
      return;
    }
    if (*high <= *low) {
      if (ctx.config) src.error(source, path + ": token range [low, high) is empty");
      return;
    }
    // Sizes checked before anything is generated: a prompt is length x repeats - 1 tokens.
    const int64_t context = ctx.config ? ctx.config->n_ctx : kMaxPromptTokens;
    if (*length > (context + 1) / *repeats) {
      src.error(source["length"] ? source["length"] : source,
                path + ": length " + std::to_string(*length) + " x repeats " +
                    std::to_string(*repeats) +
                    " makes prompts longer than the model's context of " + std::to_string(context) +
                    " tokens");
      return;
    }
    if (*n > kMaxPromptTokens / (*length * *repeats)) {
      src.error(source["n"], path + ".n: " + std::to_string(*n) + " prompts of " +
                                 std::to_string(*length * *repeats - 1) +
                                 " tokens exceed the limit of " + std::to_string(kMaxPromptTokens) +
                                 " prompt tokens per job");
      return;
    }
    YAML::Node at = source;
    for (auto& p : repeated_token_prompts(prefix, *n, seed, *length, *repeats, *low, *high,
                                          corruption == "first"))
      if (check_pair(src, at, path, p, ctx)) out.push_back(std::move(p));
    return;
  }
  if (*kind == "ioi") {
    auto n = count(8);
    std::vector<std::string> patterns = {"ABBA", "BABA"};
    if (source["patterns"]) {
      auto p = read_choices(src, source["patterns"], path + ".patterns", {"ABBA", "BABA"});
      if (p) patterns = *p;
    }
    std::string corruption = "flip";
    if (source["corruption"])
      corruption = read_choice(src, source["corruption"], path + ".corruption", {"flip", "abc"})
                       .value_or("flip");
    auto names = read_words(src, source["names"], path + ".names", default_ioi_names(),
                            corruption == "abc" ? 5 : 2);
    auto places = read_words(src, source["places"], path + ".places", default_ioi_places(), 1);
    auto objects = read_words(src, source["objects"], path + ".objects", default_ioi_objects(), 1);
    if (!n) return;
    tokenise_text_prompts(
        source, path, ioi_prompts(prefix, *n, seed, patterns, corruption, names, places, objects),
        ctx, out);
    return;
  }
  // factual
  std::vector<Fact> facts = default_facts();
  if (const YAML::Node list = source["facts"]) {
    facts.clear();
    if (expect_sequence(src, list, path + ".facts")) {
      for (size_t i = 0; i < list.size(); ++i) {
        std::string fpath = path + ".facts[" + std::to_string(i) + "]";
        const YAML::Node f = list[i];
        if (!expect_map(src, f, fpath)) continue;
        check_keys(src, f, fpath, {"subject", "prompt", "answer", "wrong"});
        Fact fact;
        bool ok = true;
        for (auto [key, into] : {std::pair<const char*, std::string*>{"subject", &fact.subject},
                                 {"prompt", &fact.prompt},
                                 {"answer", &fact.answer},
                                 {"wrong", &fact.wrong}}) {
          if (!f[key]) {
            if (std::string(key) != "wrong") {
              src.error(f, fpath + ": missing \"" + key + "\"");
              ok = false;
            }
            continue;
          }
          auto s = read_string(src, f[key], fpath + "." + key);
          if (s) *into = *s;
          ok = ok && s.has_value();
        }
        if (ok && fact.prompt.find("{S}") == std::string::npos) {
          src.error(f["prompt"], fpath + ".prompt: must contain {S} where the subject goes");
          ok = false;
        }
        if (ok) facts.push_back(fact);
      }
    }
    if (facts.empty()) return;
  }
  auto n = count(static_cast<int64_t>(facts.size()));
  if (!n) return;
  tokenise_text_prompts(source, path, factual_prompts(prefix, *n, facts), ctx, out);
}

}  // namespace

std::vector<PromptPair> read_prompts(const YAML::Node& node, const PromptContext& ctx) {
  const Source& src = ctx.src;
  std::vector<PromptPair> out;
  if (!node) {
    src.error(YAML::Mark::null_mark(), "prompts: missing (give at least one prompt pair)");
    return out;
  }
  if (!expect_sequence(src, node, "prompts")) return out;
  if (node.size() == 0) {
    src.error(node, "prompts: empty list (give at least one prompt pair)");
    return out;
  }
  for (size_t i = 0; i < node.size(); ++i) {
    const YAML::Node source = node[i];
    std::string path = "prompts[" + std::to_string(i) + "]";
    if (source.IsMap() && source["template"]) {
      read_template(source, path, ctx, out);
    } else if (source.IsMap() && source["file"]) {
      read_jsonl(source, path, ctx, out);
    } else if (source.IsMap() && source["corpus"]) {
      read_corpus(source, path, ctx, kMaxPrompts, kMaxPromptTokens, out);
    } else {
      std::string id = "p";  // appended, not "p" + ...: GCC 12's -Wrestrict misfires on the latter
      id += std::to_string(i);
      auto p = read_entry(src, source, path, id, ctx);
      if (p) out.push_back(std::move(*p));
    }
  }
  std::set<std::string> seen;
  for (const auto& p : out)
    if (!seen.insert(p.id).second) src.error(node, "prompts: duplicate prompt id \"" + p.id + "\"");
  return out;
}

}  // namespace csweep::jobs
