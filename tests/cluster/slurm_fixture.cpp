#include "slurm_fixture.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <sstream>
#include <thread>

#include "cluster/shell_quote.h"
#include "cluster/slurm_cli.h"
#include "test_util.h"

namespace csweep::cluster::testing {

bool SlurmCluster::running_ = false;
std::string SlurmCluster::skip_reason_;
std::filesystem::path SlurmCluster::dir_;

namespace {

bool port_free(int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return false;
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_ANY);
  bool ok = bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  close(fd);
  return ok;
}

bool have(const std::string& program) { return run_bash("command -v " + program).exit_code == 0; }

std::string script() { return std::string(CSWEEP_CLUSTER_TEST_DIR) + "/slurm_cluster.sh"; }

std::vector<std::string> states_of(const std::string& job_id) {
  std::vector<std::string> states;
  CommandResult r = run_command({"scontrol", "show", "job", "-o", job_id});
  if (r.exit_code != 0) return states;
  std::istringstream lines(r.out);
  std::string line;
  while (std::getline(lines, line)) {
    auto p = line.find(" JobState=");
    if (p == std::string::npos) continue;
    p += 10;
    states.push_back(line.substr(p, line.find(' ', p) - p));
  }
  return states;
}

}  // namespace

void SlurmCluster::SetUp() {
  for (const char* program : {"slurmctld", "slurmd", "munged", "sbatch", "scontrol"})
    if (!have(program)) {
      skip_reason_ = std::string("Slurm tests skipped: '") + program +
                     "' is not installed (CSWEEP_WITH_SLURM=1 scripts/install-deps.sh installs "
                     "slurm-wlm and munge)";
      return;
    }
  if (getuid() != 0) {
    skip_reason_ =
        "Slurm tests skipped: the local cluster runs its daemons as root (SlurmUser=root)";
    return;
  }
  int base = 0;
  for (int candidate = 16817; candidate < 17817 && base == 0; candidate += 10)
    if (port_free(candidate) && port_free(candidate + 1) && port_free(candidate + 2))
      base = candidate;
  if (base == 0) {
    skip_reason_ = "Slurm tests skipped: no free port range in 16817..17817";
    return;
  }
  dir_ = std::filesystem::temp_directory_path() / ("csweep-slurm-" + std::to_string(getpid()));
  std::filesystem::remove_all(dir_);
  CommandResult r = run_command(
      {"env", "SL_NODES=2", "SL_CPUS=2", "SL_CTLD_PORT=" + std::to_string(base),
       "SL_SLURMD_PORT=" + std::to_string(base + 1), "SL_SCHED_INTERVAL=1",
       "SL_OWNER_PID=" + std::to_string(getpid()), "bash", script(), "start", dir_.string()});
  if (r.exit_code != 0) {
    run_command({"bash", script(), "stop", dir_.string()});
    FAIL() << "could not start the local Slurm cluster in " << dir_ << ":\n" << r.out << r.err;
  }
  setenv("SLURM_CONF", (dir_ / "slurm.conf").c_str(), 1);
  running_ = true;
}

void SlurmCluster::TearDown() {
  if (dir_.empty()) return;
  CommandResult r = run_command({"bash", script(), "stop", dir_.string()});
  if (r.exit_code != 0) ADD_FAILURE() << "stopping the cluster failed: " << r.err;
  running_ = false;
  if (!::testing::UnitTest::GetInstance()->Failed()) {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  } else {
    std::fprintf(stderr, "Slurm state and logs kept in %s\n", dir_.c_str());
  }
}

std::string job_state(const std::string& job_id) {
  auto states = states_of(job_id);
  return states.empty() ? "" : states.front();
}

bool step_daemons_alive(const std::string& id) {
  return run_command({"pgrep", "-f", "^slurmstepd: \\[" + id + "\\."}).exit_code == 0;
}

int job_restarts(const std::string& job_id) {
  CommandResult r = run_command({"scontrol", "show", "job", "-o", job_id});
  auto p = r.out.find(" Restarts=");
  return p == std::string::npos ? -1 : std::atoi(r.out.c_str() + p + 10);
}

bool wait_until(const std::function<bool()>& done, std::chrono::seconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (done()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  return done();
}

std::string wait_finished(const std::string& job_id, std::chrono::seconds timeout) {
  std::string joined;
  wait_until(
      [&] {
        auto states = states_of(job_id);
        joined.clear();
        bool all_final = !states.empty();
        for (const auto& s : states) {
          joined += (joined.empty() ? "" : ",") + s;
          if (s == "PENDING" || s == "RUNNING" || s == "CONFIGURING" || s == "COMPLETING" ||
              s == "REQUEUED" || s == "SUSPENDED")
            all_final = false;
        }
        return all_final;
      },
      timeout);
  return joined;
}

}  // namespace csweep::cluster::testing
