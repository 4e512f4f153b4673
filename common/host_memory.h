#pragma once
// The memory this process's host lets it use: the physical memory, or the cgroup's limit when
// one is lower (Slurm's --mem and container limits are cgroup limits).
#include <cstdint>

namespace csweep {

uint64_t host_memory_bytes();  // 0 when it cannot be read

}  // namespace csweep
