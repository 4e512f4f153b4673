// The older two-file format: vocab.json ({token: id}) + merges.txt ("a b" per line, maybe
// after a "#version" line), as GPT2Tokenizer reads it: GPT-2's regex, byte-level.
#include <fstream>
#include <unordered_map>

#include "common/error.h"
#include "model/tokenizer/json_fields.h"
#include "model/tokenizer/tokenizer_impl.h"

namespace csweep::model::tokenizer {

namespace {

void read_merges(const std::filesystem::path& path, BpeSpec& spec) {
  const std::string file = path.string();
  std::ifstream in(path, std::ios::binary);
  if (!in) throw error_at(file, "", "cannot open file");
  std::string line;
  size_t line_no = 0;
  while (std::getline(in, line)) {
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty()) continue;
    if (line_no == 1 && line.rfind("#version", 0) == 0) continue;
    size_t space = line.find(' ');
    if (space == std::string::npos || space == 0 || space + 1 == line.size() ||
        line.find(' ', space + 1) != std::string::npos)
      throw error_at(file, "line " + std::to_string(line_no),
                     "expected two tokens separated by one space");
    spec.merges.emplace_back(line.substr(0, space), line.substr(space + 1));
    spec.merge_where.push_back("line " + std::to_string(line_no));
  }
}

}  // namespace

BpeSpec read_vocab_and_merges(const std::filesystem::path& dir) {
  BpeSpec spec;
  spec.file = dir / "vocab.json";
  spec.merges_file = dir / "merges.txt";
  const std::string file = spec.file.string();
  nlohmann::json vocab = read_json_file(spec.file);
  if (!vocab.is_object()) throw error_at(file, "", "expected an object {token: id}");
  std::unordered_map<std::string, int64_t> ids;
  for (auto& [token, id] : vocab.items()) {
    int64_t value = int_value(id, file, "\"" + token + "\"");
    spec.vocab.emplace_back(token, value);
    ids[token] = value;
  }
  read_merges(spec.merges_file, spec);

  TokenizerConfig config = read_tokenizer_config(dir);
  PreTokenizerStep byte_level;
  byte_level.regex = std::make_shared<Regex>(kGpt2Pattern, false, file);
  byte_level.add_prefix_space = config.add_prefix_space.value_or(false);
  spec.pre_tokenizer.add_step(byte_level);

  spec.added = config.added;
  // GPT2Tokenizer's defaults: <|endoftext|> is BOS, EOS and UNK unless a config says otherwise.
  if (!config.bos && ids.count("<|endoftext|>")) config.bos = "<|endoftext|>";
  if (!config.eos && ids.count("<|endoftext|>")) config.eos = "<|endoftext|>";
  for (const auto& content : {config.bos, config.eos})
    if (content) config.special_tokens.push_back(*content);
  for (const std::string& content : config.special_tokens) {
    bool known = false;
    for (auto& t : spec.added)
      if (t.content == content) {
        t.special = true;
        known = true;
      }
    auto it = ids.find(content);
    if (!known && it != ids.end()) {
      AddedToken t;
      t.id = static_cast<int32_t>(it->second);
      t.content = content;
      t.special = true;
      spec.added.push_back(t);
    }
  }
  spec.bos_token = config.bos;
  spec.eos_token = config.eos;
  return spec;
}

}  // namespace csweep::model::tokenizer
