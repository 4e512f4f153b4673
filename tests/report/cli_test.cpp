// `csweep reduce` on a real store: made by `csweep run` (synthetic executor, one shard made to
// fail, so the store is partial) on the bundled example job. Checks the completeness lines,
// the outputs, that no fragment changes, and one-line errors on bad input.
#include <cstdlib>
#include <regex>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "test_util.h"

namespace csweep::report {
namespace {

using testing::fresh_dir;
using testing::read_text;
using testing::run_command;

using csweep::testing::csweep_bin;

// The example job with its model path made absolute and its store in `dir`.
std::filesystem::path write_job(const std::filesystem::path& dir) {
  const std::string yaml = testing::example_job_text();
  const auto job = dir / "job.yaml";
  std::ofstream(job) << yaml;
  return job;
}

std::map<std::string, std::string> snapshot(const std::filesystem::path& dir) {
  std::map<std::string, std::string> files;
  for (const auto& e : std::filesystem::recursive_directory_iterator(dir))
    if (e.is_regular_file()) files[e.path().string()] = read_text(e.path());
  return files;
}

class ReportCli : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new std::filesystem::path(fresh_dir("cli"));
    const auto job = write_job(*dir_);
    const auto r = run_command(csweep_bin() + " run " + job.string() + " --store " +
                               (*dir_ / "store").string() + " --executor synthetic:fail=0");
    run_output_ = new std::string(r.output);
  }
  static void TearDownTestSuite() {
    delete dir_;
    delete run_output_;
  }
  static std::filesystem::path* dir_;
  static std::string* run_output_;
};
std::filesystem::path* ReportCli::dir_ = nullptr;
std::string* ReportCli::run_output_ = nullptr;

TEST_F(ReportCli, ReducesAPartialStoreWithoutTouchingFragments) {
  const auto store = *dir_ / "store";
  ASSERT_TRUE(std::filesystem::is_directory(store / "fragments")) << *run_output_;
  const auto before = snapshot(store / "fragments");
  ASSERT_FALSE(before.empty());

  const auto r = run_command(csweep_bin() + " reduce " + store.string());
  ASSERT_EQ(r.status, 0) << r.output;
  // One completeness line per analysis of the job; shard 0 failed, so one is partial.
  int partial = 0;
  for (const std::string name : {"resid_pre", "head_z_by_pos", "head_z_all_pos"}) {
    std::smatch m;
    ASSERT_TRUE(
        std::regex_search(r.output, m, std::regex(name + ": (\\d+)/(\\d+) cells, (\\d+)%\n")))
        << r.output;
    EXPECT_LE(std::stoll(m[1]), std::stoll(m[2]));
    if (m[1] != m[2]) ++partial;
  }
  EXPECT_EQ(partial, 1) << r.output;
  EXPECT_NE(r.output.find("sweep.h5: " + (store / "sweep.h5").string()), std::string::npos);
  EXPECT_NE(r.output.find("report: " + (store / "report.html").string()), std::string::npos);
  EXPECT_NE(r.output.find("heatmap: " + (store / "heatmaps" / "resid_pre_mean.png").string()),
            std::string::npos);
  EXPECT_TRUE(std::filesystem::file_size(store / "sweep.h5") > 0);
  EXPECT_EQ(snapshot(store / "fragments"), before);  // read-only on the fragments

  // The stored spec gave the metric and the model to the report.
  const std::string html = read_text(store / "report.html");
  EXPECT_NE(html.find("logit_diff"), std::string::npos);
  EXPECT_NE(html.find("gpt2-tiny"), std::string::npos);
}

TEST_F(ReportCli, JsonOutputAndOutDir) {
  const auto out = *dir_ / "elsewhere";
  const auto r = run_command(csweep_bin() + " reduce " + (*dir_ / "store").string() +
                             " --json --top-k 3 --out " + out.string() + " 2>/dev/null");
  ASSERT_EQ(r.status, 0) << r.output;
  const auto j = nlohmann::json::parse(r.output);
  EXPECT_EQ(j["sweep_h5"], (out / "sweep.h5").string());
  ASSERT_EQ(j["analyses"].size(), 3u);
  EXPECT_EQ(j["analyses"][0]["name"], "resid_pre");
  EXPECT_TRUE(std::filesystem::exists(out / "report.html"));
}

TEST_F(ReportCli, BaselinesJsonAddsFractionRecovered) {
  const auto store = *dir_ / "store";
  std::ofstream(store / "baselines.json")
      << R"({"resid_pre": {"clean": [3.0], "corrupted": [-1.0]}})";
  auto r = run_command(csweep_bin() + " reduce " + store.string() + " --no-html");
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("resid_pre_fraction_recovered.png"), std::string::npos) << r.output;
  EXPECT_EQ(r.output.find("head_z_by_pos_fraction_recovered.png"), std::string::npos) << r.output;

  std::ofstream(store / "baselines.json") << R"({"resid_pre": {"clean": [3.0, 4.0]}})";
  r = run_command(csweep_bin() + " reduce " + store.string());
  EXPECT_EQ(r.status, 2);
  EXPECT_EQ(r.output,
            "csweep: " + (store / "baselines.json").string() +
                ": resid_pre.clean: must be an array of one number (or null) per prompt\n");
  std::filesystem::remove(store / "baselines.json");
}

TEST_F(ReportCli, BadInputIsOneLineAndNonZero) {
  auto r = run_command(csweep_bin() + " reduce " + (*dir_ / "missing").string());
  EXPECT_EQ(r.status, 2);
  EXPECT_EQ(r.output, "csweep: " + (*dir_ / "missing").string() + ": no such store directory\n");
  const auto not_store = *dir_ / "not-a-store";
  std::filesystem::create_directories(not_store);
  r = run_command(csweep_bin() + " reduce " + not_store.string());
  EXPECT_EQ(r.status, 2);
  EXPECT_EQ(std::count(r.output.begin(), r.output.end(), '\n'), 1) << r.output;
  EXPECT_EQ(r.output.rfind("csweep: ", 0), 0u) << r.output;
}

}  // namespace
}  // namespace csweep::report
