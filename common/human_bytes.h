#pragma once
// Byte counts for people: "512 B", "1.5 KiB", "2.0 GiB" (binary units, one decimal above bytes).
#include <string>

namespace csweep {

std::string human_bytes(double bytes);

}  // namespace csweep
