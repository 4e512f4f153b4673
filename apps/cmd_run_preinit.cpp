// `csweep run`'s drain signals (SIGTERM, SIGUSR1: finish, exit 75), installed before anything
// else runs. LibTorch's and MPI's initialisers take a few hundred milliseconds before main();
// a Slurm preemption in that window would otherwise kill the process (exit 143) instead of
// letting it exit 75 like any other interrupted run. An ELF .preinit_array entry runs before
// every shared library's initialiser. Only for `run`: other commands keep the default action.
#include <cstring>

#include "orchestrator/signals.h"

namespace {

void install_drain_handlers_for_run(int argc, char** argv, char**) {
  for (int i = 1; i < argc; ++i) {
    if (argv[i][0] == '-') continue;  // options before the command (-v)
    if (std::strcmp(argv[i], "run") == 0) csweep::orchestrator::install_drain_signal_handlers();
    return;
  }
}

__attribute__((section(".preinit_array"),
               used)) void (*preinit_drain_handlers)(int, char**,
                                                     char**) = install_drain_handlers_for_run;

}  // namespace
