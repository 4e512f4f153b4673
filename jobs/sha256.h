#pragma once
// SHA-256 (FIPS 180-4), small and dependency-free: the canonical hash of a job spec.
#include <string>

namespace csweep::jobs {

std::string sha256_hex(const std::string& data);

}  // namespace csweep::jobs
