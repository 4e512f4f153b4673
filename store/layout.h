#pragma once
// What a store holds, described without the job machinery: the analyses with their named
// axes, the prompt ids and the shard table. The coordinator writes it once into
// STORE/layout.json (from the sharding::Plan); readers (status, reduce) need nothing else to
// turn fragments into labelled arrays. Torch-free, MPI-free, HDF5-free.
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace csweep::store {

struct AxisInfo {
  std::string name;  // "layer", "head", "pos", ...
  int64_t size = 0;
  std::vector<std::string> labels;  // one per entry (may be empty: labels are then "0".."size-1")
};

struct AnalysisInfo {
  std::string name;  // unique; also the HDF5 group name in fragments and sweep.h5
  std::string kind;  // "activation_patching", ...
  std::vector<AxisInfo> axes;
  int64_t cells() const;  // product of axis sizes: one prompt's result
};

// One shard: cells [cell_begin, cell_end) of analysis `analysis` for prompt `prompt`.
struct ShardInfo {
  uint32_t id = 0;
  uint32_t analysis = 0;
  uint32_t prompt = 0;
  int64_t cell_begin = 0;
  int64_t cell_end = 0;
  int64_t cells() const { return cell_end - cell_begin; }
};

struct Layout {
  std::vector<AnalysisInfo> analyses;
  std::vector<std::string> prompt_ids;
  std::vector<ShardInfo> shards;  // shards[i].id == i

  int64_t total_cells() const;
  nlohmann::json to_json() const;
  // Validates ids, ranges and that the shards tile every (analysis, prompt) grid exactly once;
  // throws csweep::Error naming `file`.
  static Layout from_json(const nlohmann::json& j, const std::string& file);
};

bool operator==(const Layout& a, const Layout& b);

}  // namespace csweep::store
