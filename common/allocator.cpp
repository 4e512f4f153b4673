#include "common/allocator.h"

#include <cstdlib>  // defines __GLIBC__ on glibc
#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace csweep {

void keep_freed_memory_for_reuse() {
#if defined(__GLIBC__)
  mallopt(M_MMAP_MAX, 0);  // large blocks from the heap (mmap stays glibc's fallback)
  mallopt(M_TRIM_THRESHOLD, 2000000000);  // give memory back to the kernel only above ~2 GB free
#endif
}

}  // namespace csweep
