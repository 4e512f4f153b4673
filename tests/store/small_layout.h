#pragma once
// The small store layout the store suites and the fragment fuzzer write into: 2 analyses
// ([layer 2, pos 3] and [head 4]) x 2 prompts; 8 shards of 2..3 cells.
#include "store/layout.h"

namespace csweep::testing {

inline store::Layout small_layout() {
  store::Layout l;
  l.analyses = {
      {"resid", "activation_patching", {{"layer", 2, {"0", "1"}}, {"pos", 3, {"a", "b", "c"}}}},
      {"heads/z", "ablation", {{"head", 4, {}}}}};
  l.prompt_ids = {"p0", "p1"};
  uint32_t id = 0;
  for (uint32_t p = 0; p < 2; ++p) {
    l.shards.push_back({id++, 0, p, 0, 3});
    l.shards.push_back({id++, 0, p, 3, 6});
    l.shards.push_back({id++, 1, p, 0, 2});
    l.shards.push_back({id++, 1, p, 2, 4});
  }
  return l;
}

}  // namespace csweep::testing
