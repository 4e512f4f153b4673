#pragma once
// The check every machinery test ends with: the store is complete and each cell holds exactly
// the synthetic executor's value (bit for bit), whatever was killed or re-run on the way.
#include <cstring>
#include <filesystem>

#include <gtest/gtest.h>

#include "store/reader.h"
#include "worker/synthetic_executor.h"

inline void expect_synthetic_store(const std::filesystem::path& store,
                                   bool allow_duplicates = true) {
  auto c = csweep::store::read_store(store);
  ASSERT_TRUE(c.complete()) << c.shards_done << "/" << c.layout.shards.size();
  ASSERT_TRUE(c.conflicts.empty()) << c.conflicts.front();
  if (!allow_duplicates) {
    EXPECT_EQ(c.duplicate_shards, 0);
  }
  for (uint32_t a = 0; a < c.analyses.size(); ++a) {
    const auto& r = c.analyses[a];
    for (int64_t p = 0; p < r.n_prompts; ++p)
      for (int64_t cell = 0; cell < r.cells; ++cell) {
        const float want =
            csweep::worker::synthetic_cell_value(a, static_cast<uint32_t>(p), cell, 64);
        const float got = r.at(p, cell);
        ASSERT_EQ(std::memcmp(&want, &got, sizeof(float)), 0)
            << "analysis " << a << " prompt " << p << " cell " << cell;
      }
  }
}
