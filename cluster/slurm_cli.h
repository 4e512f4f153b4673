#pragma once
// Thin wrappers over the Slurm command-line tools. Commands are run with fork/exec and an
// argument vector (never through a shell), so no value is ever re-parsed by a shell here.
#include <string>
#include <vector>

namespace csweep::cluster {

struct CommandResult {
  int exit_code = -1;  // 127: not found; 128+N: killed by signal N
  std::string out, err;
};

// Runs argv[0] (looked up in PATH) with stdin from /dev/null; captures stdout and stderr.
CommandResult run_command(const std::vector<std::string>& argv);

// `sbatch --parsable ARGS... SCRIPT` → the job id ("123"; for a job on another cluster the
// ";cluster" suffix is dropped). Throws csweep::Error with sbatch's message on failure.
std::string sbatch_submit(const std::vector<std::string>& args, const std::string& script);

// `scancel ID...`; throws on failure.
void scancel(const std::vector<std::string>& job_ids);

}  // namespace csweep::cluster
