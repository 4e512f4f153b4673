#pragma once
// SHA-256 through OpenSSL (SHA-NI where the CPU has it: ~2 GB/s, so hashing a checkpoint for
// provenance costs about one read of it). The canonical job hash and model file hashes use it.
#include <cstddef>
#include <memory>
#include <string>

namespace csweep {

class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;
  void update(const void* data, size_t n);
  std::string hex_digest();  // finishes; call once

 private:
  struct State;
  std::unique_ptr<State> state_;
};

std::string sha256_hex(const std::string& data);

}  // namespace csweep
