// csweep tokenize --model DIR TEXT [--json] | --decode IDS: the tokenizer alone, no weights.
#include <iomanip>
#include <iostream>
#include <iterator>
#include <memory>
#include <sstream>

#include <nlohmann/json.hpp>

#include "apps/command.h"
#include "common/error.h"
#include "model/tokenizer/tokenizer.h"

namespace csweep::apps {
namespace {

struct TokenizeOptions {
  std::string model;
  std::string text;
  std::string decode;
  bool bos = false;
  bool json = false;
  bool decoding = false;
};

std::vector<int64_t> parse_ids(const std::string& list) {
  std::vector<int64_t> ids;
  std::string item;
  std::stringstream in(list);
  while (std::getline(in, item, ',')) {
    size_t b = item.find_first_not_of(" \t"), e = item.find_last_not_of(" \t");
    if (b == std::string::npos) throw Error("--decode: empty id in '" + list + "'");
    item = item.substr(b, e - b + 1);
    size_t used = 0;
    int64_t id = 0;
    try {
      id = std::stoll(item, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used != item.size()) throw Error("--decode: '" + item + "' is not an integer token id");
    ids.push_back(id);
  }
  return ids;
}

// A JSON string literal: shows spaces and newlines of a token unambiguously.
std::string json_quoted(const std::string& s) {
  return nlohmann::json(s).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

int run_tokenize(const TokenizeOptions& opt) {
  auto tokenizer = model::load_tokenizer(opt.model);
  std::vector<int64_t> ids;
  std::string text;
  if (opt.decoding) {
    ids = parse_ids(opt.decode);
    text = tokenizer->decode(ids);
  } else {
    text = opt.text;
    if (text == "-")
      text.assign(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
    if (opt.bos) {
      auto bos = tokenizer->bos_id();
      if (!bos)
        throw error_at(tokenizer->source().string(), "bos_token",
                       "this tokenizer has no BOS token (--bos)");
      ids.push_back(*bos);
    }
    auto encoded = tokenizer->encode(text);
    ids.insert(ids.end(), encoded.begin(), encoded.end());
  }
  std::vector<std::string> tokens, texts;
  for (int64_t id : ids) {
    tokens.push_back(tokenizer->token_string(id));
    texts.push_back(tokenizer->token_text(id));
  }
  if (opt.json) {
    nlohmann::json out = {{"ids", ids}, {"tokens", tokens}, {"texts", texts}};
    if (opt.decoding) out["text"] = text;
    std::cout << out.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
    return 0;
  }
  if (opt.decoding) std::cout << text << "\n";
  std::cout << ids.size() << " tokens\n";
  for (size_t i = 0; i < ids.size(); ++i)
    std::cout << std::setw(6) << i << std::setw(10) << ids[i] << "  " << json_quoted(tokens[i])
              << "  " << json_quoted(texts[i])
              << (tokenizer->is_special(ids[i]) ? "  (special)" : "") << "\n";
  return 0;
}

const CommandRegistration tokenize_command(
    "tokenize",
    "token ids and strings of a text, or the text of ids (--decode); needs only tokenizer files",
    [](CLI::App& sub) {
      auto opt = std::make_shared<TokenizeOptions>();
      sub.add_option("--model", opt->model,
                     "folder with tokenizer.json, or vocab.json + merges.txt")
          ->required();
      sub.add_option("text", opt->text, "text to tokenise ('-' reads stdin)");
      sub.add_option("--decode", opt->decode,
                     "comma-separated token ids to decode instead, e.g. 1,2,3");
      sub.add_flag("--bos", opt->bos, "prepend the BOS token");
      sub.add_flag("--json", opt->json, "print {\"ids\":[...], \"tokens\":[...], \"texts\":[...]}");
      CLI::Option* text = sub.get_option("text");
      CLI::Option* decode = sub.get_option("--decode");
      return [opt, text, decode]() -> int {
        if (text->count() > 0 && decode->count() > 0)
          throw Error("tokenize: give either TEXT or --decode, not both");
        if (text->count() == 0 && decode->count() == 0)
          throw Error("tokenize: give TEXT to tokenise or --decode IDS");
        if (decode->count() > 0 && opt->decode.empty()) throw Error("--decode: no ids given");
        opt->decoding = decode->count() > 0;
        return run_tokenize(*opt);
      };
    });

}  // namespace
}  // namespace csweep::apps
