#pragma once
// Small random models in canonical layout for the fast-path tests of architectures the
// fixture does not cover: a NeoX-shaped one (parallel residual, partial rotary) and a
// Llama-shaped one (RMSNorm, SwiGLU, grouped-query attention).
#include <memory>

#include "model/model.h"

namespace csweep::analyses::testing {

std::shared_ptr<model::Model> random_neox(uint64_t seed);
std::shared_ptr<model::Model> random_llama(uint64_t seed);
std::shared_ptr<model::Model> load_fixture_gpt2();  // ../shared/fixtures/gpt2-tiny
const char* fixture_dir();

}  // namespace csweep::analyses::testing
