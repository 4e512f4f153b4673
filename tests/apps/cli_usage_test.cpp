// `csweep` as a user meets it: --version names the build, a mistyped command gets "did you
// mean", usage errors exit 2 (docs/store-layout.md), and README's quick tour runs as written.
#include <fstream>
#include <regex>

#include <gtest/gtest.h>

#include "tests/run_command.h"
#include "tests/test_paths.h"

namespace csweep::testing {
namespace {

TEST(CliUsage, VersionNamesGitShaLibTorchAndBuildType) {
  const auto r = run_command(csweep_bin() + " --version");
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_TRUE(std::regex_search(r.output, std::regex("^csweep \\S+\n"))) << r.output;
  EXPECT_TRUE(std::regex_search(r.output, std::regex("\ngit ([0-9a-f]{40}|unknown)\n")))
      << r.output;
  EXPECT_TRUE(std::regex_search(r.output, std::regex("\nLibTorch [0-9]+\\.[0-9]+\\.[0-9]+")))
      << r.output;
  EXPECT_TRUE(std::regex_search(r.output, std::regex("\nbuild type \\S+"))) << r.output;
}

TEST(CliUsage, MistypedCommandGetsDidYouMeanAndExit2) {
  const auto r = run_command(csweep_bin() + " reduse /tmp/x");
  EXPECT_EQ(r.status, 2) << r.output;
  EXPECT_EQ(r.output,
            "csweep: unknown command \"reduse\" (did you mean \"reduce\"?); see csweep --help\n");
  const auto far = run_command(csweep_bin() + " frobnicate");
  EXPECT_EQ(far.status, 2) << far.output;
  EXPECT_EQ(far.output, "csweep: unknown command \"frobnicate\"; see csweep --help\n");
}

TEST(CliUsage, UsageErrorsExit2AndHelpExits0) {
  for (const std::string args :
       {"", "run", "plan --ranks x job.yaml", "status --no-such-flag /tmp/s"}) {
    const auto r = run_command(csweep_bin() + " " + args);
    EXPECT_EQ(r.status, 2) << "csweep " << args << "\n" << r.output;
    EXPECT_FALSE(r.output.empty()) << "csweep " << args;
  }
  EXPECT_EQ(run_command(csweep_bin() + " --help").status, 0);
  EXPECT_EQ(run_command(csweep_bin() + " run --help").status, 0);
}

// Every line of README's quick tour runs as written, in order, with `csweep` on PATH, as this
// machine's user (root here: no OMPI_ALLOW_RUN_AS_ROOT* help), in a copy of examples/ so the
// source tree stays clean. A line that needs a Slurm cluster or a file the user supplies
// (model.gguf) must say so in its comment; it is not run.
TEST(CliUsage, ReadmeQuickTourRunsAsWritten) {
  std::ifstream in(source_path("README.md"));
  std::string line;
  std::vector<std::string> commands;
  bool in_tour = false;
  while (std::getline(in, line)) {
    if (line.rfind("## ", 0) == 0) in_tour = line == "## Quick tour";
    if (in_tour && line.rfind("    ", 0) == 0) commands.push_back(line.substr(4));
  }
  ASSERT_GE(commands.size(), 6u);
  const auto dir = fresh_test_dir("apps", "quick-tour");
  std::filesystem::create_directories(dir);
  std::filesystem::copy(source_path("examples"), dir / "examples",
                        std::filesystem::copy_options::recursive);
  const std::string bin_dir = std::filesystem::path(csweep_bin()).parent_path().string();
  std::filesystem::remove_all("/tmp/s");
  int ran = 0;
  for (const auto& cmd : commands) {
    if (cmd.find("needs a Slurm cluster") != std::string::npos) continue;
    if (cmd.find("model.gguf") != std::string::npos) {
      EXPECT_NE(cmd.find("# "), std::string::npos) << "say what model.gguf is: " << cmd;
      continue;
    }
    if (cmd.find("submit") != std::string::npos && cmd.find("--dry-run") == std::string::npos)
      ADD_FAILURE() << "a submit without --dry-run must say it needs a Slurm cluster: " << cmd;
    const auto r = run_command("cd " + dir.string() + " && env -u OMPI_ALLOW_RUN_AS_ROOT -u " +
                               "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM PATH=" + bin_dir + ":$PATH " + cmd);
    EXPECT_EQ(r.status, 0) << cmd << "\n" << r.output;
    ++ran;
  }
  EXPECT_GE(ran, 7);
  std::filesystem::remove_all("/tmp/s");
}

}  // namespace
}  // namespace csweep::testing
