#include "test_util.h"

#include <unistd.h>

#include <fstream>
#include <random>
#include <sstream>

namespace csweep::cluster::testing {

TempDir::TempDir(const std::string& name_hint) {
  std::random_device rd;
  path_ = std::filesystem::temp_directory_path() /
          (name_hint + "-" + std::to_string(getpid()) + "-" + std::to_string(rd() % 1000000));
  std::filesystem::create_directories(path_);
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

void write_text(const std::filesystem::path& file, const std::string& text) {
  std::filesystem::create_directories(file.parent_path());
  std::ofstream(file, std::ios::binary) << text;
}

std::string read_text(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

CommandResult run_bash(const std::string& script, const std::vector<std::string>& env) {
  std::vector<std::string> argv = {"env"};
  argv.insert(argv.end(), env.begin(), env.end());
  argv.insert(argv.end(), {"bash", "-c", script});
  return run_command(argv);
}

}  // namespace csweep::cluster::testing
