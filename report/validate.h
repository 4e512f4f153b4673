#pragma once
// `csweep validate`: checks a store's mean results (means over prompts, as `reduce` writes
// them) against a baseline sweep.h5 and against the circuit assertions of the job's
// `validation:` section. Each check is one PASS/FAIL line; bad input (a missing or unreadable
// baseline, an assertion the grid cannot answer) throws csweep::Error instead.
// Torch-free; uses only the plain types of jobs/job_spec.h (no link to the jobs library).
#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "jobs/job_spec.h"
#include "report/aggregate.h"
#include "report/reduce_input.h"

namespace csweep::report {

struct Check {
  std::string name;  // "complete", "baseline resid_pre", "assertion 0 (head_z top_head)"
  bool pass = false;
  std::string detail;  // the numbers behind the verdict
  std::string line() const { return std::string(pass ? "PASS " : "FAIL ") + name + ": " + detail; }
  nlohmann::json to_json() const { return {{"name", name}, {"pass", pass}, {"detail", detail}}; }
};

struct ValidateOptions {
  std::filesystem::path baseline;  // empty: no baseline comparison
  double tolerance = 1e-4;
  std::vector<jobs::Assertion> assertions;
  std::string spec_file;  // names the job spec in error messages
};

// aggregates[i] belongs to input.analyses[i]. Checks, in order: the store is complete, the
// baseline (one check per analysis), every assertion.
std::vector<Check> validate_sweep(const ReduceInput& input,
                                  const std::vector<Aggregates>& aggregates,
                                  const ValidateOptions& options);

// One check of `mean` against the baseline's /analyses/<name>/mean (exposed for tests).
Check compare_with_baseline(const std::filesystem::path& baseline, const AnalysisInput& analysis,
                            const std::vector<float>& mean, double tolerance);

// One assertion against an analysis's means; `where` names it in errors
// ("FILE: validation.assertions[i]").
Check check_assertion(const jobs::Assertion& assertion, const AnalysisInput& analysis,
                      const std::vector<float>& mean, const std::string& where);

}  // namespace csweep::report
