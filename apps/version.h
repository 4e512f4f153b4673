#pragma once
// What `csweep --version` prints: csweep version and git SHA, LibTorch version, build type.
#include <string>

namespace csweep::apps {

std::string version_text();

}  // namespace csweep::apps
