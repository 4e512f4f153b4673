#pragma once
// One spdlog logger per component ("model", "store", "coordinator", ...). Quiet by default
// (warnings and errors only); `csweep -v` lowers the level to info, `-vv` to debug.
#include <memory>
#include <string>

#include <spdlog/spdlog.h>

namespace csweep::log {

std::shared_ptr<spdlog::logger> get(const std::string& component);
void set_verbosity(int level);  // 0 = warn, 1 = info, 2 = debug, 3+ = trace

}  // namespace csweep::log
