#pragma once
// Reads a store without modifying anything: merges every readable fragment into one array
// per analysis, [n_prompts, cells] row-major (cells in the analysis's axis order), plus a
// done mask. The first complete copy of a shard (fragments in name order, rows in file
// order) wins; later copies (a re-issued shard) are compared bit for bit and counted as
// duplicates, never twice; a mismatch is reported in `conflicts`. Fragments that cannot be
// opened (a kill mid-flush, a writer still creating it) are listed in `unreadable` and
// skipped. This is what `csweep reduce` and `csweep status` build on.
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "store/layout.h"

namespace csweep::store {

struct AnalysisResults {
  AnalysisInfo info;
  int64_t n_prompts = 0;
  int64_t cells = 0;          // per prompt (info.cells())
  std::vector<float> values;  // [n_prompts * cells]; NaN where not done
  std::vector<uint8_t> done;  // [n_prompts * cells]; 1 where a complete shard covered it
  float at(int64_t prompt, int64_t cell) const { return values[prompt * cells + cell]; }
};

// Who wrote one fragment and how much of the index it holds: the store's answer to "which
// array task wrote what" (csweep status --json lists these).
struct FragmentInfo {
  std::filesystem::path file;
  bool readable = false;
  std::string host, created;
  int64_t pid = -1, rank = -1;
  std::string slice;                                                  // "k/N" or ""
  std::string slurm_job_id, slurm_array_job_id, slurm_array_task_id;  // "" when not under Slurm
  int64_t shards = 0;        // complete, checksummed shard rows in it
  int64_t first_copies = 0;  // of those, the copies the merge used (read_store only)
  nlohmann::json to_json() const;
};

struct StoreContents {
  std::filesystem::path dir;
  std::string spec_hash;
  std::string spec_yaml;
  nlohmann::json provenance;  // {} when absent
  Layout layout;
  std::vector<AnalysisResults> analyses;  // same order as layout.analyses
  std::vector<uint8_t> shard_done;        // per shard id
  int64_t shards_done = 0;
  int64_t duplicate_shards = 0;                   // extra identical copies seen (re-issued shards)
  std::vector<std::string> conflicts;             // "FRAGMENT: shard N: differs from FIRST" lines
  std::vector<std::filesystem::path> fragments;   // read
  std::vector<std::filesystem::path> unreadable;  // skipped
  std::vector<FragmentInfo> writers;              // every fragment, readable or not, in name order
  bool complete() const { return shards_done == static_cast<int64_t>(layout.shards.size()); }
};

// Throws csweep::Error when DIR is not a store (no layout.json / spec.hash) or layout.json is
// invalid. Never throws for a damaged fragment.
StoreContents read_store(const std::filesystem::path& dir);

// Only which shards are done (cheaper: reads the index rows and verifies checksums, keeps no
// values). Used by the coordinator to resume.
struct DoneShards {
  std::vector<uint8_t> done;  // per shard id
  int64_t count = 0;
  std::vector<std::filesystem::path> unreadable;
};
DoneShards scan_done_shards(const std::filesystem::path& dir, const Layout& layout,
                            const std::string& spec_hash);

}  // namespace csweep::store
