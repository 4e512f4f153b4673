#pragma once
// Wall-clock time as the store's JSON files and the cluster's records write it.
#include <string>

namespace csweep {

// Now, in UTC, as strftime `format` writes it; the default is ISO 8601 ("2026-11-28T12:49:50Z"),
// file names use compact forms such as "%Y%m%d-%H%M%S".
std::string utc_now(const char* format = "%Y-%m-%dT%H:%M:%SZ");

}  // namespace csweep
