#include "store/layout.h"

#include <algorithm>
#include <map>

#include "common/error.h"

namespace csweep::store {

int64_t AnalysisInfo::cells() const {
  int64_t n = 1;
  for (const auto& a : axes) n *= a.size;
  return n;
}

int64_t Layout::total_cells() const {
  int64_t n = 0;
  for (const auto& s : shards) n += s.cells();
  return n;
}

nlohmann::json Layout::to_json() const {
  nlohmann::json j;
  j["format_version"] = 1;
  j["analyses"] = nlohmann::json::array();
  for (const auto& a : analyses) {
    nlohmann::json axes = nlohmann::json::array();
    for (const auto& x : a.axes)
      axes.push_back({{"name", x.name}, {"size", x.size}, {"labels", x.labels}});
    j["analyses"].push_back({{"name", a.name}, {"kind", a.kind}, {"axes", axes}});
  }
  j["prompts"] = prompt_ids;
  // Compact: one [id, analysis, prompt, cell_begin, cell_end] row per shard.
  nlohmann::json rows = nlohmann::json::array();
  for (const auto& s : shards)
    rows.push_back({s.id, s.analysis, s.prompt, s.cell_begin, s.cell_end});
  j["shard_columns"] = {"id", "analysis", "prompt", "cell_begin", "cell_end"};
  j["shards"] = rows;
  return j;
}

Layout Layout::from_json(const nlohmann::json& j, const std::string& file) {
  Layout l;
  try {
    if (j.value("format_version", 0) > 1)
      throw error_at(file, "format_version",
                     "written by a newer csweep (" + j["format_version"].dump() + ")");
    for (const auto& a : j.at("analyses")) {
      AnalysisInfo info;
      info.name = a.at("name").get<std::string>();
      info.kind = a.at("kind").get<std::string>();
      for (const auto& x : a.at("axes")) {
        AxisInfo axis{x.at("name").get<std::string>(), x.at("size").get<int64_t>(),
                      x.value("labels", std::vector<std::string>{})};
        if (axis.size <= 0)
          throw error_at(file, "analyses." + info.name + ".axes." + axis.name, "size must be > 0");
        info.axes.push_back(std::move(axis));
      }
      l.analyses.push_back(std::move(info));
    }
    l.prompt_ids = j.at("prompts").get<std::vector<std::string>>();
    for (const auto& r : j.at("shards")) {
      ShardInfo s{r.at(0).get<uint32_t>(), r.at(1).get<uint32_t>(), r.at(2).get<uint32_t>(),
                  r.at(3).get<int64_t>(), r.at(4).get<int64_t>()};
      l.shards.push_back(s);
    }
  } catch (const nlohmann::json::exception& e) {
    throw error_at(file, "", std::string("malformed layout: ") + e.what());
  }
  // Every (analysis, prompt) grid must be tiled exactly once, or merged arrays would lie.
  std::map<std::pair<uint32_t, uint32_t>, std::vector<std::pair<int64_t, int64_t>>> tiles;
  for (size_t i = 0; i < l.shards.size(); ++i) {
    const auto& s = l.shards[i];
    const std::string what = "shards[" + std::to_string(i) + "]";
    if (s.id != i) throw error_at(file, what, "id " + std::to_string(s.id) + " is not its index");
    if (s.analysis >= l.analyses.size()) throw error_at(file, what, "analysis index out of range");
    if (s.prompt >= l.prompt_ids.size()) throw error_at(file, what, "prompt index out of range");
    if (s.cell_begin < 0 || s.cell_end <= s.cell_begin ||
        s.cell_end > l.analyses[s.analysis].cells())
      throw error_at(file, what, "cell range out of the grid");
    tiles[{s.analysis, s.prompt}].push_back({s.cell_begin, s.cell_end});
  }
  for (auto& [key, ranges] : tiles) {
    std::sort(ranges.begin(), ranges.end());
    int64_t next = 0;
    for (auto& [b, e] : ranges) {
      if (b != next)
        throw error_at(file, "shards",
                       "cells of analysis " + std::to_string(key.first) + " prompt " +
                           std::to_string(key.second) + " overlap or leave a gap");
      next = e;
    }
    if (next != l.analyses[key.first].cells())
      throw error_at(file, "shards",
                     "analysis " + std::to_string(key.first) + " prompt " +
                         std::to_string(key.second) + " is not covered to its last cell");
  }
  return l;
}

bool operator==(const Layout& a, const Layout& b) { return a.to_json() == b.to_json(); }

}  // namespace csweep::store
