// `csweep validate` on real stores: the example activation-patching job on the gpt2-tiny
// fixture, run by `csweep run` and reduced by `csweep reduce`, with a validation section added.
// The baselines are real sweep.h5 files (one perturbed with h5py). The fixture is
// deterministic: head 1.3 dominates head_z_by_pos, position 5 (a changed token) dominates
// resid_pre, and patching layer 0 position 0 (an unchanged token) leaves the corrupted
// logit difference (-0.48).
#include <cstdlib>
#include <regex>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "test_util.h"

namespace csweep::report {
namespace {

namespace fs = std::filesystem;
using testing::fresh_dir;
using testing::read_text;
using testing::run_command;

using csweep::testing::csweep_bin;

// The example job, model path made absolute, with `validation` appended; returns the store.
fs::path make_store(const fs::path& dir, const std::string& name, const std::string& validation,
                    const std::string& run_flags = "") {
  const std::string yaml = testing::example_job_text();
  const fs::path job = dir / (name + ".yaml"), store = dir / name;
  std::ofstream(job) << yaml << validation;
  auto r = run_command(csweep_bin() + " run " + job.string() + " --store " + store.string() + " " +
                       run_flags);
  if (run_flags.empty()) {
    EXPECT_EQ(r.status, 0) << r.output;
  }
  r = run_command(csweep_bin() + " reduce " + store.string() + " --no-html");
  EXPECT_EQ(r.status, 0) << r.output;
  return store;
}

int count(const std::string& s, const std::string& what) {
  int n = 0;
  for (size_t at = s.find(what); at != std::string::npos; at = s.find(what, at + 1)) ++n;
  return n;
}

class Validate : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new fs::path(fresh_dir("validate"));
    good_ = new fs::path(make_store(*dir_, "good", R"(
validation:
  assertions:
    - {analysis: head_z_by_pos, expect: top_head, layer: 1, head: 3}
    - {analysis: resid_pre, expect: top_position, position: 5}
    - {analysis: resid_pre, expect: less_than, layer: 0, position: 0, value: 0}
    - {analysis: head_z_all_pos, expect: top_layer, layer: 1, k: 2}
)"));
  }
  static void TearDownTestSuite() {
    fs::remove_all(*dir_);
    delete dir_;
    delete good_;
  }
  static fs::path* dir_;
  static fs::path* good_;
};
fs::path* Validate::dir_ = nullptr;
fs::path* Validate::good_ = nullptr;

TEST_F(Validate, OwnSweepH5AndTrueAssertionsPass) {
  const auto r = run_command(csweep_bin() + " validate " + good_->string() + " --baseline " +
                             (*good_ / "sweep.h5").string());
  EXPECT_EQ(r.status, 0) << r.output;
  EXPECT_EQ(count(r.output, "PASS "), 8) << r.output;  // complete, 3 baselines, 4 assertions
  EXPECT_EQ(count(r.output, "FAIL "), 0) << r.output;
  EXPECT_NE(
      r.output.find("PASS baseline head_z_by_pos: max |mean - baseline| 0 <= tolerance 0.0001"),
      std::string::npos)
      << r.output;
  EXPECT_NE(r.output.find("layer 1, head 3: max |mean| 3.37"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("rank 1 of 12 (k 1)"), std::string::npos) << r.output;

  const auto j = run_command(csweep_bin() + " validate " + good_->string() + " --json --baseline " +
                             (*good_ / "sweep.h5").string() + " 2>/dev/null");
  ASSERT_EQ(j.status, 0) << j.output;
  const auto json = nlohmann::json::parse(j.output);
  EXPECT_EQ(json["ok"], true);
  ASSERT_EQ(json["checks"].size(), 8u);
  EXPECT_EQ(json["checks"][1]["name"], "baseline resid_pre");
}

TEST_F(Validate, PerturbedBaselineFailsNamingTheAnalysis) {
  const fs::path baseline = *dir_ / "perturbed.h5";
  fs::copy_file(*good_ / "sweep.h5", baseline, fs::copy_options::overwrite_existing);
  const auto py =
      run_command("/usr/bin/python3 -c \"import h5py; f = h5py.File('" + baseline.string() +
                  "', 'r+'); d = f['analyses/head_z_all_pos/mean']; a = d[()]; a[1, 2] += 1e-3; "
                  "d[...] = a; f.close()\"");
  ASSERT_EQ(py.status, 0) << py.output;

  auto r = run_command(csweep_bin() + " validate " + good_->string() + " --baseline " +
                       baseline.string());
  EXPECT_EQ(r.status, 1) << r.output;
  EXPECT_EQ(count(r.output, "FAIL "), 1) << r.output;
  EXPECT_TRUE(std::regex_search(
      r.output,
      std::regex("FAIL baseline head_z_all_pos: max \\|mean - baseline\\| 0\\.(001|000999)\\d* "
                 "> tolerance 0\\.0001 at layer 1, head 2 ")))
      << r.output;
  EXPECT_NE(r.output.find("PASS baseline resid_pre"), std::string::npos) << r.output;

  // --tolerance overrides the job's default.
  r = run_command(csweep_bin() + " validate " + good_->string() + " --baseline " +
                  baseline.string() + " --tolerance 0.01");
  EXPECT_EQ(r.status, 0) << r.output;
}

TEST_F(Validate, FalseAssertionsFail) {
  const fs::path store = make_store(*dir_, "wrong", R"(
validation:
  assertions:
    - {analysis: head_z_by_pos, expect: top_head, layer: 0, head: 0, k: 3}
    - {analysis: resid_pre, expect: greater_than, layer: 0, position: 0, value: 0}
    - {analysis: resid_pre, expect: top_position, position: 5}
)");
  const auto r = run_command(csweep_bin() + " validate " + store.string());
  EXPECT_EQ(r.status, 1) << r.output;
  EXPECT_NE(
      r.output.find("FAIL assertion 0 (head_z_by_pos top_head): layer 0, head 0: max |mean| 0.566"),
      std::string::npos)
      << r.output;
  EXPECT_NE(r.output.find("top is layer 1, head 3"), std::string::npos) << r.output;
  EXPECT_NE(
      r.output.find("FAIL assertion 1 (resid_pre greater_than): layer 0, position 0: mean -0.481"),
      std::string::npos)
      << r.output;
  EXPECT_NE(r.output.find("PASS assertion 2 (resid_pre top_position)"), std::string::npos)
      << r.output;
  EXPECT_NE(r.output.find("validate: FAILED 2 of 4 checks"), std::string::npos) << r.output;
}

TEST_F(Validate, IncompleteStoreFails) {
  // One shard made to fail: the store stays partial.
  const fs::path store = make_store(*dir_, "partial", "", "--executor synthetic:fail=0");
  const auto r = run_command(csweep_bin() + " validate " + store.string() + " --baseline " +
                             (*good_ / "sweep.h5").string());
  EXPECT_EQ(r.status, 1) << r.output;
  EXPECT_TRUE(std::regex_search(
      r.output, std::regex("FAIL complete: store is incomplete: \\w+ \\d+/\\d+ cells")))
      << r.output;
}

TEST_F(Validate, BadInputExitsTwoWithOneLine) {
  const fs::path missing = *dir_ / "no-such.h5";
  auto r = run_command(csweep_bin() + " validate " + good_->string() + " --baseline " +
                       missing.string());
  EXPECT_EQ(r.status, 2) << r.output;
  EXPECT_EQ(r.output, "csweep: " + missing.string() + ": --baseline: no such file\n");

  const fs::path not_h5 = *dir_ / "not.h5";
  std::ofstream(not_h5) << "text";
  r = run_command(csweep_bin() + " validate " + good_->string() + " --baseline " + not_h5.string());
  EXPECT_EQ(r.status, 2) << r.output;
  EXPECT_EQ(r.output,
            "csweep: " + not_h5.string() +
                ": baseline: not an HDF5 file (expected a sweep.h5 from csweep reduce)\n");

  r = run_command(csweep_bin() + " validate " + (*dir_ / "nowhere").string());
  EXPECT_EQ(r.status, 2) << r.output;
  EXPECT_EQ(count(r.output, "\n"), 1) << r.output;
}

}  // namespace
}  // namespace csweep::report
