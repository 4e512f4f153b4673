#pragma once
// Reads a store directory (store/reader.h) into a ReduceInput. Read-only: works on a running
// or interrupted store and never opens a fragment for writing.
#include <filesystem>
#include <string>

#include <nlohmann/json.hpp>

#include "report/reduce_input.h"

namespace csweep::jobs {
struct JobSpec;
}

namespace csweep::report {

ReduceInput load_reduce_input(const std::filesystem::path& store_dir);

// The job spec stored in STORE/spec.yaml parsed again, its relative paths (model, baseline)
// anchored where the job file is: found through provenance.json (`job_file_from_store`, then
// `job_file`), else next to the store or in the working directory. Throws csweep::Error naming
// spec.yaml and the last parse error. (Defined when the report links jobs/.)
jobs::JobSpec parse_stored_spec(const std::filesystem::path& store_dir,
                                const std::string& spec_yaml, const nlohmann::json& provenance);

}  // namespace csweep::report
