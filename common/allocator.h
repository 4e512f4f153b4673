#pragma once
// Process-wide memory allocator settings for compute processes (csweep, the benchmarks).

namespace csweep {

// glibc serves every allocation above 32 MiB with its own mmap and unmaps it on free, so each
// of a sweep's large per-block activations (a packed call's MLP hidden layer is ~100 MiB) is
// page-faulted and zeroed by the kernel again on every block: 8% of a CPU sweep's time in
// clear_page, and 20% slower sweeps measured. Serve large blocks from the heap instead and keep
// up to 1 GiB of freed memory for reuse. No-op on other C libraries.
void keep_freed_memory_for_reuse();

}  // namespace csweep
