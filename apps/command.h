#pragma once
// Each `csweep` subcommand lives in its own apps/cmd_<name>.cpp and registers itself with a
// static CommandRegistration, so adding a command never touches main.cpp. Commands stay thin:
// parse flags, call the library, print. Errors propagate as csweep::Error and main() turns
// them into one line on stderr and a non-zero exit.
#include <functional>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

namespace csweep::apps {

struct Command {
  std::string name;
  // Adds the subcommand's options to `sub` and returns the function that runs it
  // (called after parsing; returns the process exit code).
  std::function<std::function<int()>(CLI::App& sub)> setup;
  std::string description;
};

std::vector<Command>& command_registry();

struct CommandRegistration {
  CommandRegistration(std::string name, std::string description,
                      std::function<std::function<int()>(CLI::App&)> setup) {
    command_registry().push_back({std::move(name), std::move(setup), std::move(description)});
  }
};

}  // namespace csweep::apps
