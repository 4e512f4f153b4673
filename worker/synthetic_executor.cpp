#include "worker/synthetic_executor.h"

#include <chrono>
#include <sstream>
#include <thread>

#include "common/error.h"

namespace csweep::worker {

ShardExecutor::~ShardExecutor() = default;

SyntheticOptions parse_synthetic_options(const std::string& spec) {
  SyntheticOptions o;
  const std::string head = "synthetic";
  if (spec.rfind(head, 0) != 0) throw error_at("--executor", "", "unknown executor '" + spec + "'");
  if (spec.size() == head.size()) return o;
  if (spec[head.size()] != ':')
    throw error_at("--executor", "", "expected synthetic:key=value,... got '" + spec + "'");
  std::stringstream ss(spec.substr(head.size() + 1));
  std::string item;
  while (std::getline(ss, item, ',')) {
    const auto eq = item.find('=');
    if (eq == std::string::npos) throw error_at("--executor", item, "expected key=value");
    const std::string key = item.substr(0, eq), value = item.substr(eq + 1);
    try {
      if (key == "sleep_ms")
        o.sleep_ms = std::stod(value);
      else if (key == "work")
        o.work = std::stoll(value);
      else if (key == "fail_rank")
        o.fail_rank = std::stoi(value);
      else if (key == "fail" || key == "flaky" || key == "hang") {
        auto& set = key == "fail" ? o.fail_shards : key == "flaky" ? o.flaky_shards : o.hang_shards;
        std::stringstream ids(value);
        std::string id;
        while (std::getline(ids, id, ';'))
          if (!id.empty()) set.insert(static_cast<uint32_t>(std::stoul(id)));
      } else {
        throw error_at("--executor", key,
                       "unknown option (sleep_ms, work, fail, flaky, hang, fail_rank)");
      }
    } catch (const std::logic_error&) {
      throw error_at("--executor", key, "not a number: '" + value + "'");
    }
  }
  return o;
}

float synthetic_cell_value(uint32_t analysis, uint32_t prompt, int64_t cell, int64_t work) {
  uint64_t x = (uint64_t(analysis) << 48) ^ (uint64_t(prompt) << 32) ^ uint64_t(cell);
  for (int64_t i = 0; i < work; ++i) {  // splitmix64 rounds: cheap, exactly reproducible
    x += 0x9e3779b97f4a7c15ull;
    uint64_t z = x;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    x = z ^ (z >> 31);
  }
  return static_cast<float>(static_cast<double>(x >> 40) / double(1ull << 24) * 2.0 - 1.0);
}

std::vector<float> SyntheticExecutor::run(const sharding::Shard& shard) {
  const bool this_rank = options_.fail_rank < 0 || options_.fail_rank == rank_;
  if (options_.fail_shards.count(shard.id) && this_rank)
    throw Error("synthetic failure of shard " + std::to_string(shard.id));
  if (options_.flaky_shards.count(shard.id) && this_rank && flaked_.insert(shard.id).second)
    throw Error("synthetic transient failure of shard " + std::to_string(shard.id));
  if (options_.hang_shards.count(shard.id) && this_rank)
    std::this_thread::sleep_for(std::chrono::hours(1));
  if (options_.sleep_ms > 0)
    std::this_thread::sleep_for(std::chrono::duration<double, std::milli>(options_.sleep_ms));
  std::vector<float> out;
  out.reserve(static_cast<size_t>(shard.cells()));
  for (int64_t c = shard.cell_begin; c < shard.cell_end; ++c)
    out.push_back(synthetic_cell_value(shard.analysis, shard.prompt, c, options_.work));
  return out;
}

}  // namespace csweep::worker
