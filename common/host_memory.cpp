#include "common/host_memory.h"

#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <string>

namespace csweep {
namespace {

// A cgroup's memory limit (v2 memory.max, v1 memory.limit_in_bytes); 0 when there is none.
uint64_t cgroup_limit() {
  for (const char* file :
       {"/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"}) {
    std::ifstream in(file);
    std::string text;
    if (!(in >> text) || text.empty() || text.find_first_not_of("0123456789") != std::string::npos)
      continue;  // absent, or "max"
    try {
      return std::stoull(text);
    } catch (const std::exception&) {  // out of range: no limit worth the name
    }
  }
  return 0;
}

}  // namespace

uint64_t host_memory_bytes() {
  const long pages = ::sysconf(_SC_PHYS_PAGES), page = ::sysconf(_SC_PAGE_SIZE);
  const uint64_t physical =
      pages > 0 && page > 0 ? static_cast<uint64_t>(pages) * static_cast<uint64_t>(page) : 0;
  const uint64_t limit = cgroup_limit();
  if (physical == 0) return limit;
  return limit == 0 ? physical : std::min(physical, limit);
}

}  // namespace csweep
