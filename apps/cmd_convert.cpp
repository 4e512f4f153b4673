// csweep convert gguf FILE.gguf --out DIR [--dtype float32|bfloat16|float16] [--force]:
// turns a llama.cpp checkpoint into a Hugging Face folder every other command loads.
#include <iostream>
#include <memory>

#include <nlohmann/json.hpp>

#include "apps/command.h"
#include "common/error.h"
#include "model/gguf/gguf_convert.h"
#include "model/weight_dtype.h"

namespace csweep::apps {
namespace {

struct ConvertArgs {
  std::string file, out, dtype = "float32";
  bool force = false, json = false;
};

int run_convert_gguf(const ConvertArgs& a) {
  model::gguf::ConvertOptions opt;
  opt.dtype = model::weight_dtype(a.dtype, "--dtype");
  opt.overwrite = a.force;
  auto summary = model::gguf::convert_gguf(a.file, a.out, opt);
  if (a.json) {
    nlohmann::json j = {{"out", a.out},
                        {"architecture", summary.architecture},
                        {"tensors", summary.tensors},
                        {"parameters", summary.parameters},
                        {"dtype", a.dtype},
                        {"source_tensor_types", summary.source_types}};
    std::cout << j.dump() << "\n";
    return 0;
  }
  std::string types;
  for (const auto& [name, n] : summary.source_types)
    types += (types.empty() ? "" : ", ") + std::to_string(n) + " " + name;
  std::cout << a.out << ": " << summary.architecture << ", " << summary.tensors << " tensors ("
            << types << "), " << summary.parameters << " parameters as " << a.dtype << "\n";
  return 0;
}

const CommandRegistration convert_command(
    "convert", "convert a checkpoint in another format into a Hugging Face folder (gguf)",
    [](CLI::App& sub) {
      auto a = std::make_shared<ConvertArgs>();
      sub.require_subcommand(1);
      CLI::App* gguf = sub.add_subcommand("gguf",
                                          "llama.cpp GGUF (F32 F16 BF16 Q8_0 Q4_0 Q4_1 Q5_0 Q5_1 "
                                          "Q4_K Q5_K Q6_K; llama, qwen2, qwen3, gemma3) -> "
                                          "config.json, model.safetensors, tokenizer.json");
      gguf->add_option("file", a->file, "the .gguf file")->required();
      gguf->add_option("--out", a->out, "the checkpoint folder to write")->required();
      gguf->add_option("--dtype", a->dtype,
                       "dtype of the written weights: float32 (default), bfloat16, float16");
      gguf->add_flag("--force", a->force, "replace --out if it exists");
      gguf->add_flag("--json", a->json, "print a JSON summary");
      return [a, gguf]() -> int {
        if (gguf->parsed()) return run_convert_gguf(*a);
        throw Error("convert: name the source format (gguf)");
      };
    });

}  // namespace
}  // namespace csweep::apps
