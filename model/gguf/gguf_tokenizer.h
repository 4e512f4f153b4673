#pragma once
// Hugging Face tokenizer files (tokenizer.json, tokenizer_config.json) from a GGUF file's
// tokenizer.ggml.* metadata, for the byte-level BPE ("gpt2") vocabularies csweep's tokenizer
// reads. llama.cpp names the pre-tokenizer (tokenizer.ggml.pre: "smollm", "llama-bpe", ...)
// instead of storing it; each supported name is mapped to the Hugging Face pre-tokenizer that
// llama.cpp's own regexes for that name reproduce (llama-vocab.cpp). Gemma 3's SentencePiece
// ("llama") vocabulary becomes what transformers' GGUF loader builds for it (GemmaTokenizer:
// BPE with byte fallback, merges recovered from the vocabulary). Unknown names, and other
// SentencePiece vocabularies, are refused by name. Torch-free.
#include <cstdint>

#include <nlohmann/json.hpp>

#include "model/gguf/gguf_file.h"

namespace csweep::model::gguf {

struct HfTokenizerFiles {
  nlohmann::ordered_json tokenizer_json;
  nlohmann::ordered_json tokenizer_config;
};

// Throws csweep::Error "FILE: metadata 'tokenizer.ggml.KEY': REASON".
HfTokenizerFiles make_hf_tokenizer(const GgufFile& file, int64_t model_max_length);

}  // namespace csweep::model::gguf
