#pragma once
// Runs csweep (plainly or under mpirun) as a real child process for the end-to-end tests:
// start, signal, wait with a deadline, collect output.
#include <signal.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "tests/test_paths.h"

namespace csweep::testing {

inline std::string data_dir() { return source_path("tests/orchestrator/data").string(); }

// The synthetic-executor job most end-to-end tests run.
inline std::string sweep_job() { return data_dir() + "/sweep.yaml"; }

struct Child {
  pid_t pid = -1;
  std::filesystem::path out;  // stdout+stderr
  int status = -1;
  bool exited = false;
  int exit_code() const { return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status); }
  std::string output() const {
    std::ifstream in(out);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }
};

// argv[0] is looked up in PATH. Each child gets its own process group (kill_group()).
inline Child spawn(const std::vector<std::string>& argv, const std::filesystem::path& out) {
  Child c;
  c.out = out;
  c.pid = ::fork();
  if (c.pid == 0) {
    ::setpgid(0, 0);
    FILE* f = std::fopen(out.c_str(), "w");
    ::dup2(fileno(f), 1);
    ::dup2(fileno(f), 2);
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    ::execvp(args[0], args.data());
    std::_Exit(127);
  }
  return c;
}

// Waits up to timeout_s; on timeout kills the child's process group and returns false.
inline bool wait_for(Child& c, double timeout_s) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout_s);
  while (std::chrono::steady_clock::now() < deadline) {
    pid_t r = ::waitpid(c.pid, &c.status, WNOHANG);
    if (r == c.pid) {
      c.exited = true;
      return true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ::kill(-c.pid, SIGKILL);
  ::waitpid(c.pid, &c.status, 0);
  c.exited = true;
  return false;
}

// Direct children of `pid` (mpirun's rank processes).
inline std::vector<pid_t> children_of(pid_t pid) {
  std::vector<pid_t> out;
  for (const auto& e : std::filesystem::directory_iterator("/proc")) {
    const std::string name = e.path().filename().string();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::ifstream stat(e.path() / "stat");
    std::string line;
    if (!std::getline(stat, line)) continue;
    const auto close = line.rfind(')');
    if (close == std::string::npos) continue;
    std::istringstream rest(line.substr(close + 2));
    char state;
    pid_t ppid;
    rest >> state >> ppid;
    if (ppid == pid) out.push_back(static_cast<pid_t>(std::stoi(name)));
  }
  return out;
}

// csweep run as a command line: np == 0 -> plain process, else mpirun -np np --oversubscribe.
inline std::vector<std::string> run_command(int np, const std::vector<std::string>& args) {
  std::vector<std::string> argv;
  if (np > 0) argv = {"mpirun", "-np", std::to_string(np), "--oversubscribe", "--bind-to", "none"};
  // As root (containers, CI) mpirun refuses to start without this; the env vars that
  // csweep_add_test sets are not always passed through ctest.
  if (np > 0 && ::geteuid() == 0) argv.push_back("--allow-run-as-root");
  argv.push_back(csweep_bin());
  argv.push_back("run");
  argv.insert(argv.end(), args.begin(), args.end());
  return argv;
}

}  // namespace csweep::testing
