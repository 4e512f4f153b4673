// csweep: the command line. Thin by design — every subcommand is a cmd_<name>.cpp that
// registers itself (see command.h); this file only dispatches and turns errors into exits.
#include <algorithm>
#include <exception>
#include <filesystem>
#include <iostream>

#include "apps/command.h"
#include "apps/version.h"
#include "common/allocator.h"
#include "common/error.h"
#include "common/log.h"
#include "jobs/diagnostics.h"

namespace csweep::apps {
std::vector<Command>& command_registry() {
  static std::vector<Command> registry;
  return registry;
}

namespace {
// The first word that is not an option, when it names no subcommand: "csweep runn ..." gets a
// one-line "did you mean" instead of CLI11's list of unexpected arguments.
std::string unknown_command(int argc, char** argv, const CLI::App& app) {
  std::vector<std::string> names;
  for (const auto* sub : app.get_subcommands([](const CLI::App*) { return true; }))
    names.push_back(sub->get_name());
  for (int i = 1; i < argc; ++i) {
    const std::string word = argv[i];
    if (word.empty() || word[0] == '-') continue;
    if (std::find(names.begin(), names.end(), word) != names.end()) return "";
    return "unknown command \"" + word + "\"" + csweep::jobs::did_you_mean(word, names) +
           "; see csweep --help";
  }
  return "";
}
}  // namespace
}  // namespace csweep::apps

int main(int argc, char** argv) {
  using namespace csweep::apps;
  csweep::keep_freed_memory_for_reuse();
  CLI::App app{"circuitsweep: mechanistic-interpretability sweeps at cluster scale"};
  app.require_subcommand(1);
  int verbosity = 0;
  app.add_flag("-v,--verbose", verbosity, "more log output (-v info, -vv debug)");
  app.set_version_flag("--version", version_text(),
                       "print the csweep version, git SHA, LibTorch version, build type");

  auto& registry = command_registry();
  std::sort(registry.begin(), registry.end(),
            [](const Command& a, const Command& b) { return a.name < b.name; });
  std::vector<std::pair<CLI::App*, std::function<int()>>> runners;
  for (auto& cmd : registry) {
    CLI::App* sub = app.add_subcommand(cmd.name, cmd.description);
    runners.emplace_back(sub, cmd.setup(*sub));
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // --help and --version exit 0; every usage error exits 2, as bad input does.
    if (e.get_exit_code() == 0) return app.exit(e);
    if (const std::string unknown = unknown_command(argc, argv, app); !unknown.empty()) {
      std::cerr << "csweep: " << unknown << "\n";
      return 2;
    }
    app.exit(e);
    return 2;
  }
  csweep::log::set_verbosity(verbosity);
  try {
    for (auto& [sub, run] : runners)
      if (sub->parsed()) return run();
  } catch (const csweep::Error& e) {
    std::cerr << "csweep: " << e.what() << "\n";
    return 2;
  } catch (const std::filesystem::filesystem_error& e) {
    // A path the user gave that cannot be made or written (under a regular file, on a
    // read-only filesystem, no permission) is bad input, told as "PATH: what failed: why".
    std::string what = e.what();
    const std::string prefix = "filesystem error: ";
    if (what.rfind(prefix, 0) == 0) what.erase(0, prefix.size());
    if (const auto bracket = what.find(" ["); bracket != std::string::npos) what.erase(bracket);
    std::cerr << "csweep: " << e.path1().string() << ": " << what << "\n";
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "csweep: internal error: " << e.what() << "\n";
    return 3;
  }
  return 1;
}
