#pragma once
// `csweep convert gguf`: a GGUF checkpoint -> a Hugging Face checkpoint folder (config.json,
// model.safetensors, tokenizer.json, tokenizer_config.json, csweep_convert.json) that csweep,
// transformers and TransformerLens load like any other. Quantised tensors are dequantised to
// float32 and then stored in the dtype asked for. The folder is written beside DIR under a
// temporary name and renamed into place at the end, so a failed conversion leaves no
// half-written checkpoint. Torch-free.
#include <filesystem>
#include <map>
#include <string>

#include "model/safetensors.h"

namespace csweep::model::gguf {

struct ConvertOptions {
  DType dtype = DType::F32;  // F32, BF16 or F16
  bool overwrite = false;    // replace an existing DIR
  bool tokenizer =
      true;  // write the tokenizer files (refused vocabularies then fail the conversion)
};

struct ConvertSummary {
  std::string architecture;  // general.architecture
  size_t tensors = 0;
  uint64_t parameters = 0;
  std::map<std::string, size_t> source_types;  // "Q4_1" -> tensor count
};

ConvertSummary convert_gguf(const std::filesystem::path& gguf_file,
                            const std::filesystem::path& out_dir, const ConvertOptions& options);

}  // namespace csweep::model::gguf
