#pragma once
// Everything every rank derives from the job file by itself (no messages needed: the plan is
// a pure function of the spec and the model config).
#include <filesystem>
#include <string>

#include <nlohmann/json.hpp>

#include "jobs/job_spec.h"
#include "model/config.h"
#include "sharding/plan.h"
#include "store/layout.h"

namespace csweep::orchestrator {

struct SweepSetup {
  jobs::JobSpec spec;
  model::ModelConfig config;
  sharding::Plan plan;
  store::Layout layout;
  nlohmann::json model_files;  // store::hash_model_files of the model folder
  std::string spec_hash;       // jobs::canonical_hash with the model's content hash
  std::string spec_text;       // the job file exactly as given
};

SweepSetup load_sweep(const std::filesystem::path& job_file);
store::Layout layout_from_plan(const jobs::JobSpec& spec, const sharding::Plan& plan);
store::ShardInfo shard_info(const sharding::Shard& shard);

}  // namespace csweep::orchestrator
