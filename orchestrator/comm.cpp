#include "orchestrator/comm.h"

#include <unistd.h>

#include <chrono>
#include <thread>

namespace csweep::orchestrator {

std::string this_hostname() {
  char buf[256] = {0};
  ::gethostname(buf, sizeof buf - 1);
  return buf;
}

bool Comm::wait(Message& out, double timeout_s, const volatile int* interrupt) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout_s);
  int spins = 0;
  while (true) {
    if (poll(out)) return true;
    if (interrupt && *interrupt) return false;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    if (++spins > 200) std::this_thread::sleep_for(std::chrono::microseconds(50));
  }
}

}  // namespace csweep::orchestrator
