#include "orchestrator/signals.h"

#include <csignal>

namespace csweep::orchestrator {

namespace {
volatile int g_signal = 0;  // a sig_atomic_t-sized int, written only by the handler
extern "C" void on_drain_signal(int sig) {
  if (g_signal == 0) g_signal = sig;
}
}  // namespace

void install_drain_signal_handlers() {
  struct sigaction sa {};
  sa.sa_handler = on_drain_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGUSR1, &sa, nullptr);
}

int drain_signal() { return g_signal; }
const volatile int* drain_signal_flag() { return &g_signal; }
void clear_drain_signal() { g_signal = 0; }

}  // namespace csweep::orchestrator
