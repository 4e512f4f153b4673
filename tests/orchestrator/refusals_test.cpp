// Refused and killed runs (issue 15), as real `csweep run` / `csweep status` processes: a
// refusal is one line with exit 2 and leaves no trace in a store, a SIGTERM at any moment of
// start-up exits 75, and `csweep status` of a store whose processes were SIGKILLed says so.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <sstream>

#include <nlohmann/json.hpp>

#include "process.h"

namespace fs = std::filesystem;
using namespace csweep::testing;

namespace {

struct Outcome {
  int code = -1;
  std::string output;
};

Outcome run_csweep(const std::vector<std::string>& args, const fs::path& out,
                   double timeout_s = 120) {
  std::vector<std::string> argv = {csweep_bin()};
  argv.insert(argv.end(), args.begin(), args.end());
  Child c = spawn(argv, out);
  EXPECT_TRUE(wait_for(c, timeout_s)) << "timed out: " << args[0];
  return {c.exit_code(), c.output()};
}

size_t lines(const std::string& s) { return std::count(s.begin(), s.end(), '\n'); }

std::string slurp(const fs::path& f) {
  std::ifstream in(f, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// Every file of DIR with its content and modification time: "nothing changed" is equality.
std::map<std::string, std::string> snapshot(const fs::path& dir) {
  std::map<std::string, std::string> out;
  for (const auto& e : fs::recursive_directory_iterator(dir)) {
    if (!e.is_regular_file()) continue;
    struct stat st {};
    ::stat(e.path().c_str(), &st);
    out[e.path().string()] = slurp(e.path()) + "@" + std::to_string(st.st_mtim.tv_sec) + "." +
                             std::to_string(st.st_mtim.tv_nsec);
  }
  return out;
}

// A copy of the gpt2-tiny fixture and a job on it (real analyses: ~1 s per run).
fs::path model_job(const fs::path& dir) {
  fs::create_directories(dir);
  fs::copy(fs::path(CSWEEP_SOURCE_DIR) / ".." / "shared" / "fixtures" / "gpt2-tiny", dir / "model");
  for (const auto& e : fs::directory_iterator(dir / "model"))  // the fixture is read-only
    fs::permissions(e.path(), fs::perms::owner_write, fs::perm_options::add);
  std::ofstream(dir / "job.yaml")
      << "name: refusals\nmodel: {path: model}\nprompts:\n"
         "  - {id: p0, clean: [201, 888, 641, 766], corrupted: [201, 888, 45, 766], answer: 613, "
         "wrong: 486}\n"
         "analyses:\n  - {name: resid_pre, kind: activation_patching, sites: [hook_resid_pre]}\n"
         "store: s.store\n";
  return dir / "job.yaml";
}

}  // namespace

TEST(Refusals, StoreUnderARegularFileIsOneLineWithExit2) {
  const fs::path dir = fresh_test_dir("refusals", "under-file");
  fs::create_directories(dir);
  std::ofstream(dir / "afile") << "x";
  const Outcome o = run_csweep(
      {"run", sweep_job(), "--store", (dir / "afile" / "s").string(), "--executor", "synthetic"},
      dir / "out.txt");
  EXPECT_EQ(o.code, 2) << o.output;  // was "internal error: filesystem error: ..." with exit 3
  EXPECT_EQ(o.output, "csweep: " + (dir / "afile" / "s").string() +
                          ": cannot create directories: Not a directory\n");
}

// As root, mode bits do not make a folder read-only: a read-only tmpfs in a private mount
// namespace does (unshare -m; skipped where namespaces are not allowed).
TEST(Refusals, StoreOnAReadOnlyFilesystemIsOneLineWithExit2) {
  const fs::path dir = fresh_test_dir("refusals", "read-only");
  fs::create_directories(dir / "ro");
  const std::string mount = "mount -t tmpfs -o ro,size=1m tmpfs " + (dir / "ro").string();
  if (std::system(("unshare -m sh -c '" + mount + "' 2>/dev/null").c_str()) != 0)
    GTEST_SKIP() << "cannot mount a read-only tmpfs in a private mount namespace here";
  const std::string cmd = "unshare -m sh -c '" + mount + " && exec " + csweep_bin() + " run " +
                          sweep_job() + " --executor synthetic --store " +
                          (dir / "ro" / "s").string() + "' > " + (dir / "out.txt").string() +
                          " 2>&1";
  const int status = std::system(cmd.c_str());
  const std::string out = slurp(dir / "out.txt");
  EXPECT_EQ(WEXITSTATUS(status), 2) << out;
  EXPECT_EQ(out, "csweep: " + (dir / "ro" / "s").string() +
                     ": cannot create directories: Read-only file system\n");
}

// A truncated or corrupt checkpoint is refused before the store is created, and a store that
// exists is left byte for byte as it was (lock, provenance, status); once the checkpoint is
// repaired the same command runs.
TEST(Refusals, CorruptCheckpointLeavesNoTraceAndTheRepairedRunCompletes) {
  const fs::path dir = fresh_test_dir("refusals", "checkpoint");
  const fs::path job = model_job(dir);
  const fs::path weights = dir / "model" / "model.safetensors";
  const std::string good = slurp(weights);
  const fs::path store = dir / "s.store";
  auto damage = [&](const std::string& how) {
    if (how == "truncated")
      fs::resize_file(weights, good.size() / 2);
    else {  // a header that is not JSON
      std::string bad = good;
      bad[12] = '\x01';
      std::ofstream(weights, std::ios::binary) << bad;
    }
  };
  for (const std::string how : {"truncated", "corrupt"}) {
    SCOPED_TRACE(how);
    damage(how);
    const Outcome o = run_csweep({"run", job.string()}, dir / "out.txt");
    EXPECT_EQ(o.code, 2) << o.output;
    EXPECT_EQ(lines(o.output), 1u) << o.output;
    EXPECT_NE(o.output.find(weights.string()), std::string::npos) << o.output;
    EXPECT_FALSE(fs::exists(store)) << "a refused run created the store";
    std::ofstream(weights, std::ios::binary) << good;
  }
  // A complete store, then a refused rerun: nothing in it changes.
  ASSERT_EQ(run_csweep({"run", job.string()}, dir / "out.txt").code, 0);
  const auto before = snapshot(store);
  for (const std::string how : {"truncated", "corrupt"}) {
    damage(how);
    EXPECT_EQ(run_csweep({"run", job.string()}, dir / "out.txt").code, 2);
    EXPECT_EQ(snapshot(store), before) << how;
    std::ofstream(weights, std::ios::binary) << good;
  }
  const Outcome rerun = run_csweep({"run", job.string()}, dir / "out.txt");
  EXPECT_EQ(rerun.code, 0) << rerun.output;
}

// /proc/PID/status as one snapshot: whether SIGTERM is caught, and how many threads run.
struct SignalState {
  bool alive = false, catches_sigterm = false;
  int threads = 0;
};
SignalState signal_state(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::stringstream text;
  text << in.rdbuf();
  SignalState st;
  std::string line;
  while (std::getline(text, line)) {
    st.alive = true;
    if (line.rfind("SigCgt:", 0) == 0)
      st.catches_sigterm = (std::stoull(line.substr(7), nullptr, 16) >> (SIGTERM - 1)) & 1;
    if (line.rfind("Threads:", 0) == 0) st.threads = std::stoi(line.substr(8));
  }
  return st;
}

// The drain handlers are in place before the libraries' initialisers run — the process still
// has one thread when SIGTERM becomes caught (before the fix: only after MPI_Init had started
// its threads, ~0.25 s in; a SIGTERM before exited 143) — and a SIGTERM at that instant or at
// any later moment of start-up exits 75. (Only the dynamic loader's mapping of the libraries,
// before any csweep code runs, stays uncovered.)
TEST(Refusals, SigtermAtAnyMomentOfStartUpExits75) {
  const fs::path dir = fresh_test_dir("refusals", "sigterm");
  fs::create_directories(dir);
  const std::vector<std::string> args = {sweep_job(), "--executor", "synthetic:sleep_ms=50",
                                         "--store"};
  // SIGTERM at the first instant it is caught, then later in start-up (model, MPI, store).
  int run = 0;
  for (int ms : {0, 0, 0, 50, 150, 400}) {
    SCOPED_TRACE(ms);
    auto a = args;
    a.push_back((dir / std::to_string(run++)).string());
    Child c = spawn(run_command(0, a), dir / "out.txt");
    SignalState st;
    for (int i = 0; i < 100000 && !st.catches_sigterm; ++i) {
      st = signal_state(c.pid);
      if (!st.catches_sigterm) std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
    ASSERT_TRUE(st.catches_sigterm);
    if (ms == 0) {
      EXPECT_EQ(st.threads, 1) << "SIGTERM became caught only after other threads had started";
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(ms));
    ::kill(c.pid, SIGTERM);
    ASSERT_TRUE(wait_for(c, 60));
    EXPECT_EQ(c.exit_code(), 75) << c.output();
  }
}

// status.json of a SIGKILLed run still says "running"; its coordinator's pid (same host) or
// the heartbeat's age tells status otherwise at once: no "running", no live workers, no ETA.
TEST(Refusals, StatusOfASigkilledRunSaysSo) {
  for (int np : {0, 3}) {
    SCOPED_TRACE(np);
    const fs::path dir = fresh_test_dir("refusals", "sigkill-" + std::to_string(np));
    fs::create_directories(dir);
    const fs::path store = dir / "s.store";
    Child c = spawn(run_command(np, {sweep_job(), "--store", store.string(), "--executor",
                                     "synthetic:sleep_ms=300"}),
                    dir / "run.txt");
    nlohmann::json live = nlohmann::json::object();
    for (int i = 0; i < 600 && live.value("shards_done", 0) == 0; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      live = nlohmann::json::parse(slurp(store / "status.json"), nullptr, false);
      if (live.is_discarded()) live = nlohmann::json::object();
    }
    ASSERT_EQ(live.value("state", ""), "running") << c.output();
    // Every process of the run: mpirun puts its ranks in their own process groups.
    for (const pid_t rank : children_of(c.pid)) ::kill(rank, SIGKILL);
    ::kill(-c.pid, SIGKILL);
    wait_for(c, 10);
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    const Outcome json = run_csweep({"status", store.string(), "--json"}, dir / "status.json.txt");
    ASSERT_EQ(json.code, 0) << json.output;
    const auto j = nlohmann::json::parse(json.output);
    EXPECT_EQ(j["state"].get<std::string>().rfind("killed: coordinator pid ", 0), 0u) << j["state"];
    EXPECT_EQ(j["run"]["live_workers"], 0);
    EXPECT_FALSE(j["run"].contains("eta_s"));
    const Outcome text = run_csweep({"status", store.string()}, dir / "status.txt");
    EXPECT_EQ(text.output.find("running"), std::string::npos) << text.output;
    EXPECT_EQ(text.output.find("ETA"), std::string::npos) << text.output;
    EXPECT_EQ(text.output.find("live workers"), std::string::npos) << text.output;
    EXPECT_NE(text.output.find("killed"), std::string::npos) << text.output;
  }
}
