// Qwen3 (Qwen3ForCausalLM): the Llama layout plus q_norm/k_norm (RMSNorm over head_dim,
// applied per head after the projection and before rotary); head_dim is explicit.
#include "model/arch_table.h"

namespace csweep::model {

const ArchTable& qwen3_table() {
  static const ArchTable table{Arch::Qwen3,
                               "model.",
                               llama_family_names(true),
                               {".rotary_emb.inv_freq"},
                               convert_llama_family};
  return table;
}

}  // namespace csweep::model
