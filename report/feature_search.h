#pragma once
// The SAE feature search's reduce (analyses of kind sae_feature_search): from every corpus
// context's per-feature cells (max, argmax, fires, histogram bins) the top-k contexts of each
// feature, its activation histogram and its firing density. Computed from the per-context rows
// alone, with ties broken by context order, so it is the same whichever rank wrote which row.
#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

#include <hdf5.h>

#include "report/h5_write.h"
#include "report/reduce_input.h"

namespace csweep::report {

inline constexpr char kFeatureSearchKind[] = "sae_feature_search";

struct FeatureSearch {
  struct Top {
    int64_t prompt = -1;  // the context's row in input.prompts
    float activation = 0.0f;
    int64_t position = -1;  // the activating token
  };
  std::vector<int64_t> features;                 // feature ids, the grid's order
  std::vector<int64_t> contexts, tokens, fires;  // [feature]: counted over the done contexts
  std::vector<double> density;                   // [feature]: fires / tokens (NaN: none)
  std::vector<int64_t> histogram;                // [feature, bin]
  std::vector<std::vector<Top>> top;             // [feature]: at most k, largest first
  int64_t bins = 0;
  int64_t top_k = 0;  // contexts asked for per feature (sweep.h5's table width)
};

// Throws csweep::Error when `a` is not a [feature, quantity] grid with the kind's quantities.
FeatureSearch feature_search(const ReduceInput& input, const AnalysisInput& a, int64_t top_k);

// analyses/<name>/feature_search/ in sweep.h5 (docs/store.md).
void write_feature_search_h5(const h5::Writer& w, hid_t analysis_group, const ReduceInput& input,
                             const FeatureSearch& s);
// The report section: per feature its density, histogram and top contexts, the activating token
// highlighted.
void write_feature_search_html(std::ostream& o, const ReduceInput& input, const FeatureSearch& s);

}  // namespace csweep::report
