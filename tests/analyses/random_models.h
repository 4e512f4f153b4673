#pragma once
// Small random models in canonical layout for the fast-path tests of architectures the
// fixture does not cover: a NeoX-shaped one (parallel residual, partial rotary) and a
// Llama-shaped one (RMSNorm, SwiGLU, grouped-query attention), a Mistral-shaped one (the
// Llama one with a sliding window of 4) and a Qwen3-shaped one (q/k RMSNorm, one KV head).
#include <memory>

#include "model/model.h"

namespace csweep::analyses::testing {

std::shared_ptr<model::Model> random_neox(uint64_t seed);
std::shared_ptr<model::Model> random_llama(uint64_t seed);
std::shared_ptr<model::Model> random_mistral(uint64_t seed);
std::shared_ptr<model::Model> random_qwen3(uint64_t seed);
std::shared_ptr<model::Model> load_fixture_gpt2();  // ../shared/fixtures/gpt2-tiny
const char* fixture_dir();

}  // namespace csweep::analyses::testing
