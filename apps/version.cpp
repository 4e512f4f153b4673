// The only file the build's identity is compiled into (apps/CMakeLists.txt passes it as
// compile definitions): a new git SHA or build type rebuilds this one small TU.
#include "apps/version.h"

#ifndef CSWEEP_VERSION
#define CSWEEP_VERSION "unknown"
#endif
#ifndef CSWEEP_GIT_SHA
#define CSWEEP_GIT_SHA "unknown"
#endif
#ifndef CSWEEP_TORCH_VERSION
#define CSWEEP_TORCH_VERSION "unknown"
#endif
#ifndef CSWEEP_BUILD_TYPE
#define CSWEEP_BUILD_TYPE "unknown"
#endif

namespace csweep::apps {

std::string version_text() {
  return std::string("csweep ") + CSWEEP_VERSION + "\ngit " + CSWEEP_GIT_SHA + "\nLibTorch " +
         CSWEEP_TORCH_VERSION + "\nbuild type " + CSWEEP_BUILD_TYPE;
}

}  // namespace csweep::apps
