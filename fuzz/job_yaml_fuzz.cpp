// libFuzzer: a job file's text through parse_job_spec and canonical_json, as if it lived in
// examples/ (so the examples' relative model path, examples/models/induction-2l, resolves and
// the checks against its config.json and tokenizer run).
#include <string>

#include "fuzz/fuzz_input.h"
#include "jobs/job_spec.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::filesystem::path kJob =
      std::filesystem::path(CSWEEP_SOURCE_DIR) / "examples" / "fuzz.yaml";
  const std::string text(csweep::fuzz::as_text(data, size));
  csweep::fuzz::expect_clean([&] {
    auto spec = csweep::jobs::parse_job_spec(text, kJob);
    csweep::jobs::canonical_json(spec).dump();
  });
  return 0;
}
