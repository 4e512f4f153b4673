#pragma once
// A ShardExecutor with no model: each cell's value is a deterministic function of
// (analysis, prompt, cell) computed by `work` rounds of a 64-bit mixer, so runs on any
// number of ranks, resumed or re-issued, must agree bit for bit. It exercises everything
// around the computation (scheduling, store, faults) at controllable cost:
//   --executor
//   synthetic[:sleep_ms=X][,work=N][,fail=ID;ID...][,flaky=ID;ID...][,hang=ID;ID...][,fail_rank=R]
//   sleep_ms  wall time per shard (sub-second shards for the kill tests)
//   work      mixer rounds per cell (default 64)
//   fail      shard ids whose run throws "synthetic failure of shard ID"
//   flaky     shard ids whose first run in this process throws (a transient fault: retries)
//   hang      shard ids whose run blocks for an hour (a worker hung inside its executor)
//   fail_rank only fail / hang them on this world rank (default: any rank)
#include <cstdint>
#include <set>
#include <string>

#include "worker/shard_executor.h"

namespace csweep::worker {

struct SyntheticOptions {
  double sleep_ms = 0.0;
  int64_t work = 64;
  std::set<uint32_t> fail_shards, flaky_shards, hang_shards;
  int fail_rank = -1;
};

// Parses "synthetic[:k=v,...]"; throws csweep::Error naming --executor.
SyntheticOptions parse_synthetic_options(const std::string& spec);

// The value of one cell (exposed so tests can compute the expected store contents).
float synthetic_cell_value(uint32_t analysis, uint32_t prompt, int64_t cell, int64_t work);

class SyntheticExecutor : public ShardExecutor {
 public:
  SyntheticExecutor(SyntheticOptions options, int rank)
      : options_(std::move(options)), rank_(rank) {}
  std::vector<float> run(const sharding::Shard& shard) override;

 private:
  SyntheticOptions options_;
  int rank_;
  std::set<uint32_t> flaked_;  // flaky shards that already failed once here
};

}  // namespace csweep::worker
