#pragma once
// Quoting for the two languages a generated batch script speaks. Every value that comes from
// a user (job names, paths, environment values, module names) goes through one of these, so
// no job file or profile can inject shell code into a script.
#include <string>
#include <string_view>

namespace csweep::cluster {

// Bash: wraps in single quotes; a ' becomes '\''. Safe for any byte string, newlines included.
std::string shell_quote(std::string_view value);

// An "#SBATCH --opt=VALUE" argument: sbatch's own parser understands double quotes and
// backslash escapes (not single quotes). Newlines cannot be represented in a directive line
// and are rejected with csweep::Error naming `what`.
std::string sbatch_quote(std::string_view value, const std::string& what);

// A path used as a Slurm filename pattern (--output): '%' must be doubled so that e.g.
// a directory named "100%x" is not expanded by Slurm.
std::string slurm_filename_escape(std::string_view path);

// A job name safe everywhere Slurm shows it (squeue columns, %x in log names): characters
// outside [A-Za-z0-9._-] become '_'; never empty.
std::string slurm_job_name(std::string_view name);

}  // namespace csweep::cluster
