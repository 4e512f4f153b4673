// csweep forward --model DIR (--prompt TEXT | --tokens IDS) [--json]: loads a checkpoint and
// prints the last position's logits / top-k — the quickest "does my model load right" check.
#include <algorithm>
#include <cstdio>
#include <iostream>
#include <sstream>

#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>
#include <nlohmann/json.hpp>

#include "apps/command.h"
#include "common/error.h"
#include "model/model.h"
#include "model/tensor_io.h"
#include "model/tokenizer/tokenizer.h"
#include "model/weight_dtype.h"

namespace csweep::apps {
namespace {

struct ForwardArgs {
  std::string model, prompt, tokens, dtype = "float32", device = "cpu";
  bool json = false;
  int64_t top_k = 10;
};

std::vector<int64_t> parse_token_list(const std::string& list) {
  std::vector<int64_t> ids;
  std::stringstream in(list);
  std::string item;
  while (std::getline(in, item, ',')) {
    size_t used = 0;
    int64_t id = -1;
    try {
      id = std::stoll(item, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    while (used < item.size() && (item[used] == ' ' || item[used] == '\t')) ++used;
    if (used != item.size() || item.empty())
      throw Error("--tokens: '" + item + "' is not an integer token id");
    ids.push_back(id);
  }
  if (ids.empty()) throw Error("--tokens: no token ids given");
  return ids;
}

c10::Device parse_device(const std::string& s) {
  try {
    return c10::Device(s);
  } catch (const std::exception&) {
    throw Error("--device: '" + s + "' is not a device (cpu or cuda:N)");
  }
}

int run_forward(const ForwardArgs& a) {
  if (a.prompt.empty() == a.tokens.empty())
    throw Error("forward: give exactly one of --prompt and --tokens");
  model::LoadOptions load{model::scalar_type(model::weight_dtype(a.dtype, "--dtype")),
                          parse_device(a.device)};
  std::shared_ptr<model::Tokenizer> tokenizer;
  if (model::has_tokenizer(a.model)) tokenizer = model::load_tokenizer(a.model);
  std::vector<int64_t> ids;
  if (!a.tokens.empty()) {
    ids = parse_token_list(a.tokens);
  } else {
    if (!tokenizer)
      throw Error(a.model +
                  ": --prompt needs tokenizer.json or vocab.json + merges.txt; use --tokens");
    ids = tokenizer->encode(a.prompt);
    if (ids.empty()) throw Error("--prompt: the text encodes to no tokens");
  }
  auto model = model::Model::load(a.model, load);
  const int64_t vocab = model->config().d_vocab;
  for (int64_t id : ids)
    if (id < 0 || id >= vocab)
      throw Error("--tokens: id " + std::to_string(id) + " outside the vocabulary [0, " +
                  std::to_string(vocab) + ")");

  at::NoGradGuard no_grad;
  at::Tensor tokens = at::tensor(ids, at::TensorOptions().dtype(at::kLong)).unsqueeze(0);
  model::ForwardOptions options;
  options.logits = model::ForwardOptions::Logits::Last;
  at::Tensor logits =
      model->forward(tokens, nullptr, options).reshape({-1}).to(at::kCPU, at::kFloat).contiguous();
  std::vector<float> row(logits.data_ptr<float>(), logits.data_ptr<float>() + logits.numel());

  const int64_t k = std::min<int64_t>(std::max<int64_t>(a.top_k, 0), vocab);
  std::vector<int64_t> order(row.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = int64_t(i);
  std::partial_sort(order.begin(), order.begin() + k, order.end(),
                    [&](int64_t x, int64_t y) { return row[size_t(x)] > row[size_t(y)]; });

  if (a.json) {
    nlohmann::ordered_json top = nlohmann::ordered_json::array();
    for (int64_t i = 0; i < k; ++i) {
      int64_t id = order[size_t(i)];
      top.push_back({{"id", id},
                     {"token", tokenizer ? nlohmann::json(tokenizer->token_text(id))
                                         : nlohmann::json(nullptr)},
                     {"logit", row[size_t(id)]}});
    }
    nlohmann::ordered_json out{{"tokens", ids}, {"logits_last", row}, {"top_k", top}};
    std::cout << out.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
    return 0;
  }
  std::printf("%s: %s, %zu tokens, %s on %s\n", a.model.c_str(),
              model::arch_name(model->config().arch), ids.size(), a.dtype.c_str(),
              a.device.c_str());
  for (int64_t i = 0; i < k; ++i) {
    int64_t id = order[size_t(i)];
    std::string text = tokenizer ? nlohmann::json(tokenizer->token_text(id)).dump() : "";
    std::printf("%3lld  id %-8lld logit %10.4f  %s\n", (long long)(i + 1), (long long)id,
                row[size_t(id)], text.c_str());
  }
  return 0;
}

const CommandRegistration forward_command{
    "forward", "load a checkpoint and print the last position's logits / top-k",
    [](CLI::App& sub) -> std::function<int()> {
      auto a = std::make_shared<ForwardArgs>();
      sub.add_option("--model", a->model, "Hugging Face checkpoint folder")->required();
      sub.add_option("--prompt", a->prompt, "text to tokenize (needs the model's tokenizer files)");
      sub.add_option("--tokens", a->tokens,
                     "comma-separated token ids, e.g. 1,2,3 (bypasses the tokenizer)");
      sub.add_flag("--json", a->json, "print {tokens, logits_last, top_k} as JSON");
      sub.add_option("--dtype", a->dtype,
                     "compute dtype: float32 | bfloat16 | float16 (float16 needs a GPU)");
      sub.add_option("--device", a->device, "cpu | cuda:N");
      sub.add_option("--top-k", a->top_k, "how many top tokens to list (default 10)");
      return [a] { return run_forward(*a); };
    }};

}  // namespace
}  // namespace csweep::apps
