#pragma once
// SIGTERM and SIGUSR1 (Slurm's preemption and pre-timeout warnings) ask a run to drain and
// exit 75. The handler only records the signal; the coordinator and worker loops poll it.
namespace csweep::orchestrator {

void install_drain_signal_handlers();  // idempotent
int drain_signal();                    // 0, or the signal number received first
const volatile int* drain_signal_flag();
// Forgets a received signal: for a process that runs one sweep after another (the in-process
// coordinator tests).
void clear_drain_signal();

constexpr int kExitRequeue = 75;  // EX_TEMPFAIL: "interrupted, run me again"

}  // namespace csweep::orchestrator
