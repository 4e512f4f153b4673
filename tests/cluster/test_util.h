#pragma once
// Small helpers shared by the cluster tests: temporary directories, files, running commands.
#include <filesystem>
#include <string>
#include <vector>

#include "cluster/slurm_cli.h"

namespace csweep::cluster::testing {

// A fresh directory under /tmp removed at destruction (name may contain odd characters).
class TempDir {
 public:
  explicit TempDir(const std::string& name_hint = "csweep-cluster");
  ~TempDir();
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

void write_text(const std::filesystem::path& file, const std::string& text);
std::string read_text(const std::filesystem::path& file);
// Runs `bash -c SCRIPT` with the given environment additions; returns the result.
CommandResult run_bash(const std::string& script, const std::vector<std::string>& env = {});

}  // namespace csweep::cluster::testing
