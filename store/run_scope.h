#pragma once
// What part of a sweep one `csweep run` covers and who ran it: the --slice k/N of a Slurm job
// array (shards with id % N == k), and the Slurm job ids from the environment. Both are
// recorded in every fragment the run writes (store/fragment_writer.h), so the store's index
// shows which array task wrote what. Torch-free, MPI-free, HDF5-free.
#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

namespace csweep::store {

struct Slice {
  int index = 0;  // k
  int count = 1;  // N; 1 = the whole sweep
  bool active() const { return count > 1; }
  bool contains(uint32_t shard_id) const {
    return !active() || static_cast<int>(shard_id % count) == index;
  }
  std::string text() const;  // "k/N", "" when not active
  std::string tag() const;   // "s<k>of<N>" (file names), "" when not active
};

// "k/N" with 0 <= k < N; throws csweep::Error naming --slice.
Slice parse_slice(const std::string& text);
// The slice of a fragment or status file name starting with "s<k>of<N>-" or "status-s<k>of<N>";
// count 1 when the name carries none.
Slice slice_of_name(const std::string& name);

struct SlurmIds {
  std::string job_id;         // SLURM_JOB_ID
  std::string array_job_id;   // SLURM_ARRAY_JOB_ID
  std::string array_task_id;  // SLURM_ARRAY_TASK_ID
  bool empty() const { return job_id.empty() && array_job_id.empty() && array_task_id.empty(); }
  // "slurm<array job>_<task>" for an array task, "slurm<job>" otherwise, "" outside Slurm.
  std::string tag() const;
  nlohmann::json to_json() const;  // only the ids that are set
  static SlurmIds from_env();
};

}  // namespace csweep::store
