#include "report/reduce_input.h"

#include <set>

#include "common/error.h"

namespace csweep::report {

void validate(const ReduceInput& input, const std::string& source) {
  const size_t n_prompts = input.prompts.size();
  std::set<std::string> names;
  for (const auto& a : input.analyses) {
    const std::string what = "analysis '" + a.name + "'";
    if (a.name.empty()) throw error_at(source, "analysis", "has no name");
    if (!names.insert(a.name).second) throw error_at(source, what, "appears twice");
    if (a.axes.empty()) throw error_at(source, what, "has no axes");
    for (const auto& axis : a.axes) {
      if (axis.size <= 0)
        throw error_at(source, what,
                       "axis '" + axis.name + "' has size " + std::to_string(axis.size));
      if (!axis.labels.empty() && static_cast<int64_t>(axis.labels.size()) != axis.size)
        throw error_at(source, what,
                       "axis '" + axis.name + "' has " + std::to_string(axis.labels.size()) +
                           " labels for size " + std::to_string(axis.size));
      if (!axis.values.empty() && static_cast<int64_t>(axis.values.size()) != axis.size)
        throw error_at(source, what,
                       "axis '" + axis.name + "' has " + std::to_string(axis.values.size()) +
                           " values for size " + std::to_string(axis.size));
    }
    if (a.values.size() != n_prompts || a.done.size() != n_prompts)
      throw error_at(source, what,
                     "has results for " + std::to_string(a.values.size()) + " prompts, expected " +
                         std::to_string(n_prompts));
    const size_t cells = static_cast<size_t>(a.cells());
    for (size_t p = 0; p < n_prompts; ++p)
      if (a.values[p].size() != cells || a.done[p].size() != cells)
        throw error_at(source, what,
                       "prompt " + std::to_string(p) + " has " +
                           std::to_string(a.values[p].size()) + " values, expected " +
                           std::to_string(cells));
    if (a.quantity_axis >= static_cast<int>(a.axes.size()) ||
        (a.quantity_axis >= 0 &&
         static_cast<int64_t>(a.quantities.size()) != a.axes[a.quantity_axis].size))
      throw error_at(source, what, "quantities are not one per entry of the quantity axis");
    if (!a.clean_baseline.empty() && a.clean_baseline.size() != n_prompts)
      throw error_at(source, what, "clean baselines are not one per prompt");
    if (!a.corrupted_baseline.empty() && a.corrupted_baseline.size() != n_prompts)
      throw error_at(source, what, "corrupted baselines are not one per prompt");
  }
}

}  // namespace csweep::report
