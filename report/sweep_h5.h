#pragma once
// Writes STORE/sweep.h5: one self-describing file a user opens with h5py (layout in
// docs/store.md). Written to a temporary name and renamed, so a reader never sees half a file.
#include <filesystem>
#include <vector>

#include "report/aggregate.h"
#include "report/attention_patterns.h"
#include "report/reduce_input.h"

namespace csweep::report {

// aggregates[i] and top[i] belong to input.analyses[i]; patterns (when it has heads) go to
// /attention_patterns.
void write_sweep_h5(const std::filesystem::path& path, const ReduceInput& input,
                    const std::vector<Aggregates>& aggregates,
                    const std::vector<std::vector<TopComponent>>& top,
                    const AttentionPatterns& patterns = {});

}  // namespace csweep::report
