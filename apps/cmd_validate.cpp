// csweep validate STORE [--baseline FILE] [--tolerance X] [--json]: compares the store's means
// with a baseline sweep.h5 and checks the job's circuit assertions (its `validation:` section,
// read from the job spec stored in STORE). One PASS/FAIL line per check; exit 0 only if all
// hold, 1 if any fails, 2 on bad input (main turns csweep::Error into exit 2).
#include <iostream>
#include <memory>
#include <optional>

#include <nlohmann/json.hpp>

#include "apps/command.h"
#include "common/error.h"
#include "jobs/job_spec.h"
#include "report/aggregate.h"
#include "report/store_input.h"
#include "report/validate.h"

namespace {

namespace fs = std::filesystem;

struct ValidateArgs {
  std::string store;
  std::string baseline;
  std::optional<double> tolerance;
  bool json = false;
};

int run_validate(const ValidateArgs& args) {
  if (!fs::is_directory(args.store))
    throw csweep::error_at(args.store, "", "no such store directory");
  if (args.tolerance && !(*args.tolerance >= 0))
    throw csweep::error_at("--tolerance", "", "must be >= 0");
  const auto input = csweep::report::load_reduce_input(args.store);
  const auto spec =
      csweep::report::parse_stored_spec(args.store, input.spec_yaml, input.provenance);

  csweep::report::ValidateOptions options;
  options.baseline = args.baseline.empty() ? spec.validation.baseline : fs::path(args.baseline);
  options.tolerance = args.tolerance ? *args.tolerance : spec.validation.tolerance;
  options.assertions = spec.validation.assertions;
  options.spec_file = (fs::path(args.store) / "spec.yaml").string();
  if (options.baseline.empty() && options.assertions.empty())
    throw csweep::error_at(
        options.spec_file, "validation",
        "nothing to check: give --baseline FILE or a validation section (baseline, assertions)");
  if (!options.baseline.empty() && !fs::is_regular_file(options.baseline))
    throw csweep::error_at(options.baseline.string(),
                           args.baseline.empty() ? "validation.baseline" : "--baseline",
                           "no such file");

  std::vector<csweep::report::Aggregates> aggregates;
  for (const auto& a : input.analyses) aggregates.push_back(csweep::report::aggregate(a));
  const auto checks = csweep::report::validate_sweep(input, aggregates, options);
  bool ok = true;
  for (const auto& c : checks) ok = ok && c.pass;

  if (args.json) {
    nlohmann::json j{{"ok", ok},
                     {"store", args.store},
                     {"baseline", options.baseline.string()},
                     {"tolerance", options.tolerance},
                     {"checks", nlohmann::json::array()}};
    for (const auto& c : checks) j["checks"].push_back(c.to_json());
    std::cout << j.dump(2) << "\n";
  } else {
    for (const auto& c : checks) std::cout << c.line() << "\n";
    size_t failed = 0;
    for (const auto& c : checks) failed += !c.pass;
    if (ok)
      std::cout << "validate: all " << checks.size() << " checks hold\n";
    else
      std::cout << "validate: FAILED " << failed << " of " << checks.size() << " checks\n";
  }
  return ok ? 0 : 1;
}

const csweep::apps::CommandRegistration validate_command{
    "validate",
    "compare a store with a baseline sweep.h5 and check circuit assertions (exit 0 only if all "
    "hold)",
    [](CLI::App& sub) {
      auto args = std::make_shared<ValidateArgs>();
      sub.add_option("store", args->store, "store directory")->required();
      sub.add_option(
          "--baseline", args->baseline,
          "a sweep.h5 from an earlier csweep reduce (default: the job's validation.baseline)");
      sub.add_option_function<double>(
          "--tolerance", [args](const double& x) { args->tolerance = x; },
          "max abs difference of a mean to the baseline (default: the job's, 1e-4)");
      sub.add_flag("--json", args->json, "print the checks as JSON");
      return [args]() { return run_validate(*args); };
    }};

}  // namespace
