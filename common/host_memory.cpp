#include "common/host_memory.h"

#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <string>

namespace csweep {
namespace {

// A limit file's value; 0 when absent or "max".
uint64_t read_limit(const std::string& file) {
  std::ifstream in(file);
  std::string text;
  if (!(in >> text) || text.empty() || text.find_first_not_of("0123456789") != std::string::npos)
    return 0;
  try {
    return std::stoull(text);
  } catch (const std::exception&) {  // out of range: no limit worth the name
    return 0;
  }
}

// The memory limit of this process's cgroup (v2 memory.max, v1 memory.limit_in_bytes): the
// smallest along its path from the root, where a parent's limit binds too (a Slurm job's
// step sits below the job's cgroup); 0 when there is none.
uint64_t cgroup_limit() {
  std::ifstream in("/proc/self/cgroup");
  uint64_t limit = 0;
  std::string line;
  while (std::getline(in, line)) {  // "0::/path" (v2) or "4:memory:/path" (v1)
    const size_t a = line.find(':'), b = line.find(':', a + 1);
    if (a == std::string::npos || b == std::string::npos) continue;
    const std::string controllers = line.substr(a + 1, b - a - 1);
    const bool v2 = line.compare(0, a, "0") == 0 && controllers.empty();
    if (!v2 && controllers.find("memory") == std::string::npos) continue;
    const std::string root = v2 ? "/sys/fs/cgroup" : "/sys/fs/cgroup/memory";
    const char* name = v2 ? "/memory.max" : "/memory.limit_in_bytes";
    for (std::string path = line.substr(b + 1); !path.empty();) {
      const uint64_t v = read_limit(root + (path == "/" ? "" : path) + name);
      if (v > 0 && (limit == 0 || v < limit)) limit = v;
      const size_t slash = path == "/" ? std::string::npos : path.rfind('/');
      path = slash == std::string::npos ? "" : slash == 0 ? "/" : path.substr(0, slash);
    }
  }
  return limit;
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
