// csweep: the command line. Thin by design — every subcommand is a cmd_<name>.cpp that
// registers itself (see command.h); this file only dispatches and turns errors into exits.
#include <algorithm>
#include <exception>
#include <iostream>

#include "apps/command.h"
#include "common/allocator.h"
#include "common/error.h"
#include "common/log.h"

namespace csweep::apps {
std::vector<Command>& command_registry() {
  static std::vector<Command> registry;
  return registry;
}
}  // namespace csweep::apps

int main(int argc, char** argv) {
  using namespace csweep::apps;
  csweep::keep_freed_memory_for_reuse();
  CLI::App app{"circuitsweep: mechanistic-interpretability sweeps at cluster scale"};
  app.require_subcommand(1);
  int verbosity = 0;
  app.add_flag("-v,--verbose", verbosity, "more log output (-v info, -vv debug)");

  auto& registry = command_registry();
  std::sort(registry.begin(), registry.end(), [](const Command& a, const Command& b) { return a.name < b.name; });
  std::vector<std::pair<CLI::App*, std::function<int()>>> runners;
  for (auto& cmd : registry) {
    CLI::App* sub = app.add_subcommand(cmd.name, cmd.description);
    runners.emplace_back(sub, cmd.setup(*sub));
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  csweep::log::set_verbosity(verbosity);
  try {
    for (auto& [sub, run] : runners)
      if (sub->parsed()) return run();
  } catch (const csweep::Error& e) {
    std::cerr << "csweep: " << e.what() << "\n";
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "csweep: internal error: " << e.what() << "\n";
    return 3;
  }
  return 1;
}
