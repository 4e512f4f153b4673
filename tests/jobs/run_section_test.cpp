// The run: section (failure policy of csweep run): defaults, values, errors with
// file:line:column, and that it never changes the canonical hash.
#include "tests/jobs/job_test_util.h"

namespace csweep::jobs::testing {
namespace {

std::string base() {
  return std::string(kModel) + kPrompt + "analyses:\n  - {name: x, kind: logit_lens}\n";
}

TEST(RunSection, DefaultsAndValues) {
  JobSpec plain = parse_job_spec(base(), job_path());
  EXPECT_EQ(plain.run.on_error, "continue");
  EXPECT_EQ(plain.run.max_retries, 0);
  JobSpec set = parse_job_spec(base() + "run:\n  on_error: stop\n  max_retries: 3\n", job_path());
  EXPECT_EQ(set.run.on_error, "stop");
  EXPECT_EQ(set.run.max_retries, 3);
  EXPECT_EQ(canonical_json(set)["run"]["on_error"], "stop");
}

TEST(RunSection, ErrorsNameFileLineColumnAndField) {
  // kModel (2 lines) + kPrompt (5) + analyses (2): "run:" is line 10.
  EXPECT_EQ(parse_error(base() + "run:\n  on_error: ignore\n"),
            at(11, 13, "run.on_error: unknown value \"ignore\"; expected one of continue, stop"));
  EXPECT_EQ(parse_error(base() + "run:\n  max_retries: -1\n"),
            at(11, 16, "run.max_retries: must be in 0..100"));
  EXPECT_EQ(parse_error(base() + "run: stop\n"), at(10, 6, "run: expected a map, got \"stop\""));
  EXPECT_NE(parse_error(base() + "run:\n  on_eror: stop\n").find(":11:3: "), std::string::npos)
      << parse_error(base() + "run:\n  on_eror: stop\n");
}

TEST(RunSection, PolicyDoesNotChangeTheHash) {
  EXPECT_EQ(
      canonical_hash(parse_job_spec(base(), job_path()), "m"),
      canonical_hash(parse_job_spec(base() + "run: {on_error: stop, max_retries: 2}\n", job_path()),
                     "m"));
}

}  // namespace
}  // namespace csweep::jobs::testing
