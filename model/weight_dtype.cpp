#include "model/weight_dtype.h"

#include "common/error.h"

namespace csweep::model {

namespace {
struct Named {
  DType dtype;
  const char* name;
};
constexpr Named kWeightDTypes[] = {
    {DType::F32, "float32"}, {DType::BF16, "bfloat16"}, {DType::F16, "float16"}};
}  // namespace

std::optional<DType> parse_weight_dtype(const std::string& name) {
  for (const auto& d : kWeightDTypes)
    if (name == d.name) return d.dtype;
  return std::nullopt;
}

DType weight_dtype(const std::string& name, const std::string& where) {
  if (auto d = parse_weight_dtype(name)) return *d;
  throw Error(where + ": unknown dtype '" + name + "' (" + kWeightDTypeChoices + ")");
}

const char* weight_dtype_name(DType dtype) {
  for (const auto& d : kWeightDTypes)
    if (dtype == d.dtype) return d.name;
  return "?";
}

}  // namespace csweep::model
