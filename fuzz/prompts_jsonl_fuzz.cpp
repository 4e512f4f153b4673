// libFuzzer: a JSONL prompt file ({file: prompts.jsonl}) read through a fixed job file on the
// bundled model (examples/models/induction-2l, whose tokenizer encodes text prompts).
#include <string>

#include "fuzz/fuzz_input.h"
#include "jobs/job_spec.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::filesystem::path kJob =
      std::filesystem::path(CSWEEP_SOURCE_DIR) / "examples" / "fuzz.yaml";
  const auto prompts =
      csweep::fuzz::write_scratch("prompts.jsonl", csweep::fuzz::as_text(data, size));
  static const std::string kText =
      "model:\n  path: models/induction-2l\nprompts:\n  - file: " + prompts.string() +
      "\nanalyses:\n  - {name: lens, kind: logit_lens}\n  - {name: heads, kind: "
      "causal_tracing}\n";
  csweep::fuzz::expect_clean([&] { csweep::jobs::parse_job_spec(kText, kJob); });
  return 0;
}
