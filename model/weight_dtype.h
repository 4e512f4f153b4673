#pragma once
// The weight dtypes a job file or a command line names: "float32", "bfloat16", "float16"
// (Hugging Face's torch_dtype spelling). The one parser of those names; torch-free
// (model::scalar_type() in tensor_io.h turns the DType into a torch dtype).
#include <optional>
#include <string>

#include "model/safetensors.h"

namespace csweep::model {

inline constexpr const char* kWeightDTypeChoices = "float32, bfloat16 or float16";

std::optional<DType> parse_weight_dtype(const std::string& name);  // nullopt when unknown
// Throws csweep::Error "WHERE: unknown dtype 'NAME' (float32, bfloat16 or float16)".
DType weight_dtype(const std::string& name, const std::string& where);
const char* weight_dtype_name(DType dtype);  // "float32", "bfloat16", "float16"; "?" for others

}  // namespace csweep::model
