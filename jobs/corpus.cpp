#include "jobs/corpus.h"

#include <algorithm>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "jobs/yaml_fields.h"

namespace csweep::jobs {
namespace {

const std::vector<std::string> kFormats = {"text", "jsonl", "tokens"};

// The format a file's name suggests when `format` is not given.
std::string format_of(const std::filesystem::path& file) {
  const std::string ext = file.extension().string();
  if (ext == ".jsonl") return "jsonl";
  if (ext == ".tokens" || ext == ".ids") return "tokens";
  return "text";
}

// Where a problem inside the corpus file is reported: its own line (1-based) and column.
void error_in_file(const Source& src, const std::string& file, int line, int column,
                   const std::string& reason) {
  src.diag->error(file, line - 1, column - 1, reason);
}

// Whitespace-separated token ids, each within the model's vocabulary.
std::optional<std::vector<int64_t>> read_token_ids(const Source& src, const std::string& file,
                                                   std::istream& in, const PromptContext& ctx) {
  std::vector<int64_t> ids;
  std::string line;
  bool ok = true;
  for (int line_no = 1; std::getline(in, line); ++line_no) {
    for (size_t end = 0;;) {
      const size_t begin = line.find_first_not_of(" \t\r", end);
      if (begin == std::string::npos) break;
      end = std::min(line.find_first_of(" \t\r", begin), line.size());
      const std::string word = line.substr(begin, end - begin);
      const int column = static_cast<int>(begin) + 1;
      size_t used = 0;
      int64_t id = -1;
      try {
        id = std::stoll(word, &used);
      } catch (const std::exception&) {
        used = 0;
      }
      if (used != word.size() || id < 0) {
        std::string why = "\"";
        why += word;
        why += "\" is not a token id";
        error_in_file(src, file, line_no, column, why);
        ok = false;
      } else if (ctx.config && id >= ctx.config->d_vocab) {
        error_in_file(src, file, line_no, column,
                      std::string("token id ") + word + " out of range (vocabulary has " +
                          std::to_string(ctx.config->d_vocab) + " tokens)");
        ok = false;
      }
      ids.push_back(id);
    }
  }
  if (!ok) return std::nullopt;
  return ids;
}

// One JSON object per line; each document's `field` tokenised, the documents concatenated.
std::optional<std::vector<int64_t>> read_jsonl_documents(const Source& src, const YAML::Node& at,
                                                         const std::string& path,
                                                         const std::string& file, std::istream& in,
                                                         const std::string& field,
                                                         const PromptContext& ctx) {
  std::vector<int64_t> ids;
  std::string line;
  bool ok = true;
  for (int line_no = 1; std::getline(in, line); ++line_no) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    nlohmann::json doc;
    try {
      doc = nlohmann::json::parse(line);
    } catch (const nlohmann::json::parse_error& e) {
      error_in_file(src, file, line_no, static_cast<int>(e.byte), "invalid JSON");
      ok = false;
      continue;
    }
    if (!doc.is_object() || !doc.contains(field) || !doc[field].is_string()) {
      std::string why = "\"";
      why += field;
      why += "\": missing or not a string";
      error_in_file(src, file, line_no, 1, why);
      ok = false;
      continue;
    }
    const auto text = doc[field].get<std::string>();
    if (text.empty()) continue;
    auto doc_ids = ctx.encoder->encode(src, at, path + ": line " + std::to_string(line_no), text);
    if (!doc_ids) return std::nullopt;  // no tokenizer: said once
    ids.insert(ids.end(), doc_ids->begin(), doc_ids->end());
  }
  if (!ok) return std::nullopt;
  return ids;
}

std::optional<int64_t> read_size(const Source& src, const YAML::Node& source,
                                 const std::string& path, const char* key, int64_t fallback) {
  if (!source[key]) return fallback;
  auto v = read_int(src, source[key], path + "." + key);
  if (v && *v < 1) {
    src.error(source[key], path + "." + key + ": must be at least 1");
    return std::nullopt;
  }
  return v;
}

}  // namespace

void read_corpus(const YAML::Node& source, const std::string& path, const PromptContext& ctx,
                 int64_t max_prompts, int64_t max_tokens, std::vector<PromptPair>& out) {
  const Source& src = ctx.src;
  check_keys(src, source, path,
             {"corpus", "format", "context", "max_contexts", "jsonl_field", "id"});
  const auto name = read_string(src, source["corpus"], path + ".corpus");
  const auto context = read_size(src, source, path, "context", 32);
  const auto max_contexts = read_size(src, source, path, "max_contexts", max_prompts);
  const std::string prefix =
      source["id"] ? read_string(src, source["id"], path + ".id").value_or("ctx") : "ctx";
  if (!name || !context || !max_contexts) return;
  if (ctx.need_answer) {
    src.error(source["corpus"], path +
                                    ".corpus: corpus contexts have no answers, and an analysis "
                                    "of this job reads the metric (use sae_feature_search)");
    return;
  }
  if (ctx.config && *context > ctx.config->n_ctx) {
    src.error(source["context"], path + ".context: " + std::to_string(*context) +
                                     " tokens exceed the model's context of " +
                                     std::to_string(ctx.config->n_ctx));
    return;
  }
  const std::filesystem::path file = ctx.base_dir / *name;
  std::optional<std::string> format = format_of(file);
  if (source["format"]) format = read_choice(src, source["format"], path + ".format", kFormats);
  if (!format) return;
  if (source["jsonl_field"] && *format != "jsonl")
    src.error(source["jsonl_field"], path + ".jsonl_field: only format jsonl has fields");
  const auto field = source["jsonl_field"]
                         ? read_string(src, source["jsonl_field"], path + ".jsonl_field")
                         : std::optional<std::string>("text");
  std::ifstream in(file, std::ios::binary);
  if (!in) {
    src.error(source["corpus"], path + ".corpus: cannot read \"" + file.string() +
                                    "\" (no such file or not readable)");
    return;
  }
  std::optional<std::vector<int64_t>> stream;
  if (*format == "tokens") {
    stream = read_token_ids(src, file.string(), in, ctx);
  } else if (*format == "jsonl") {
    if (!field) return;
    stream = read_jsonl_documents(src, source["corpus"], path + ".corpus", file.string(), in,
                                  *field, ctx);
  } else {
    std::ostringstream text;
    text << in.rdbuf();
    stream = std::vector<int64_t>{};
    if (!text.str().empty())
      stream = ctx.encoder->encode(src, source["corpus"], path + ".corpus", text.str());
  }
  if (!stream) return;
  const int64_t n = std::min(static_cast<int64_t>(stream->size()) / *context, *max_contexts);
  if (n == 0) {
    src.error(source["corpus"],
              path + ".corpus: \"" + file.string() + "\" holds " + std::to_string(stream->size()) +
                  " tokens, fewer than one context of " + std::to_string(*context));
    return;
  }
  if (n > max_prompts - static_cast<int64_t>(out.size()) || n * *context > max_tokens) {
    src.error(source["corpus"],
              path + ".corpus: " + std::to_string(n) + " contexts of " + std::to_string(*context) +
                  " tokens exceed the limit of " + std::to_string(max_prompts) + " prompts or " +
                  std::to_string(max_tokens) + " tokens per job (set max_contexts)");
    return;
  }
  for (int64_t i = 0; i < n; ++i) {
    PromptPair p;
    p.id = prefix;
    p.id += std::to_string(i);
    p.clean.assign(stream->begin() + i * *context, stream->begin() + (i + 1) * *context);
    p.corrupted = p.clean;
    out.push_back(std::move(p));
  }
}

}  // namespace csweep::jobs
