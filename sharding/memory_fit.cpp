#include "sharding/memory_fit.h"

#include <algorithm>

#include "common/error.h"
#include "common/human_bytes.h"
#include "jobs/kinds/kind_registry.h"
#include "jobs/yaml_fields.h"
#include "model/partition.h"

namespace csweep::sharding {

RankMemory rank_memory(const Plan& plan, int tensor_parallel) {
  const uint64_t tp = static_cast<uint64_t>(std::max(1, tensor_parallel));
  return RankMemory{(plan.weight_bytes + tp - 1) / tp, plan.max_shard_memory_bytes};
}

MemoryLimit memory_limit(uint64_t given, const std::string& device, int ranks_on_host,
                         uint64_t host_bytes) {
  if (given > 0) return {given, "--mem-per-rank"};
  if (device.rfind("cpu", 0) != 0 || host_bytes == 0) return {};
  const int ranks = std::max(1, ranks_on_host);
  std::string source = "host memory ";
  source += human_bytes(static_cast<double>(host_bytes));
  if (ranks > 1) source += " / " + std::to_string(ranks) + " ranks";
  return {host_bytes / static_cast<uint64_t>(ranks), source};
}

uint64_t parse_mem_per_rank(const std::string& text) {
  const auto bytes = jobs::parse_byte_size(text);
  if (!bytes || *bytes <= 0)
    throw error_at("--mem-per-rank", "",
                   "expected a positive size such as 16GiB or 4000MB, got '" + text + "'");
  return static_cast<uint64_t>(*bytes);
}

void check_memory_fits(const jobs::JobSpec& spec, const Plan& plan, int tensor_parallel,
                       const MemoryLimit& limit) {
  const RankMemory need = rank_memory(plan, tensor_parallel);
  if (limit.bytes == 0 || need.total() <= limit.bytes) return;
  const bool weights_alone = need.weights > limit.bytes;
  auto bytes = [](uint64_t b) { return human_bytes(static_cast<double>(b)); };
  std::string reason = "one rank needs ";
  reason += bytes(need.total()) + " (weights " + bytes(need.weights) + " over " +
            std::to_string(std::max(1, tensor_parallel)) +
            " tensor-parallel rank(s) + activations " + bytes(need.activations) +
            "), more than the " + bytes(limit.bytes) + " per rank (" + limit.source + "); ";
  reason += weights_alone ? "raise model.tensor_parallel or use a smaller model.dtype"
                          : "set a smaller sharding.memory_budget or batch_size";
  throw error_at(spec.file.string(),
                 weights_alone ? "model.tensor_parallel" : "sharding.memory_budget", reason);
}

int choose_tensor_parallel(const jobs::JobSpec& spec, const model::ModelConfig& config,
                           const Plan& plan, int n_ranks, const MemoryLimit& limit) {
  if (spec.model.tensor_parallel > 0) return static_cast<int>(spec.model.tensor_parallel);
  auto refuse = [&](const std::string& reason) {
    return error_at(spec.file.string(), "model.tensor_parallel", "auto: " + reason);
  };
  if (limit.bytes == 0)
    throw refuse("the memory per rank is unknown for device " + spec.model.device +
                 "; pass --mem-per-rank (a GPU's memory) or give tensor_parallel a number");
  bool gradients = false;
  for (const auto& a : spec.analyses) gradients = gradients || (a.kind && a.kind->needs_gradients);
  const int workers = n_ranks - 1;
  for (int tp = 1; tp <= (gradients ? 1 : static_cast<int>(config.n_heads)); ++tp) {
    try {
      model::partition_of(config, 0, tp);
    } catch (const Error&) {
      continue;  // does not split this model
    }
    if (workers > 0 && workers % tp != 0) continue;
    if (rank_memory(plan, tp).total() <= limit.bytes) return tp;
  }
  auto bytes = [](uint64_t b) { return human_bytes(static_cast<double>(b)); };
  std::string reason =
      "no tensor-parallel size fits " + bytes(limit.bytes) + " per rank (" + limit.source + ")";
  if (gradients)
    reason += "; a kind that needs gradients runs only unsplit, needing " +
              bytes(rank_memory(plan, 1).total());
  if (workers > 0) reason += " and divides the " + std::to_string(workers) + " worker ranks";
  throw refuse(reason);
}

}  // namespace csweep::sharding
