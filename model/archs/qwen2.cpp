// Qwen2 (Qwen2ForCausalLM): the Llama layout with q/k/v biases (o_proj has none); small
// models tie the embeddings.
#include "model/arch_table.h"

namespace csweep::model {

const ArchTable& qwen2_table() {
  static const ArchTable table{Arch::Qwen2,
                               "model.",
                               llama_family_names(false),
                               {".rotary_emb.inv_freq"},
                               convert_llama_family};
  return table;
}

}  // namespace csweep::model
