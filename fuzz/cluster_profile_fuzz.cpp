// libFuzzer: a cluster.yaml through parse_cluster_profile.
#include <string>

#include "cluster/profile.h"
#include "fuzz/fuzz_input.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(csweep::fuzz::as_text(data, size));
  csweep::fuzz::expect_clean([&] { csweep::cluster::parse_cluster_profile(text, "cluster.yaml"); });
  return 0;
}
