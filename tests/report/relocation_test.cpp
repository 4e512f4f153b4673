// A store does not depend on where it sits: the real csweep binary on the bundled model runs
// half a job (--slice 1/2), the project folder (job, model, store) is moved and reached through
// a symlink, the rerun resumes and equals an uninterrupted run; reduce gives the same sweep.h5
// from any working directory, with token strings and the metric's name.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "test_util.h"
#include "tests/test_paths.h"

namespace csweep::report {
namespace {

namespace fs = std::filesystem;
using csweep::testing::csweep_bin;
using testing::read_text;
using testing::run_command;

constexpr const char* kJob =
    "name: moved\n"
    "seed: 3\n"
    "model:\n"
    "  path: models/induction-2l\n"
    "prompts:\n"
    "  - {template: repeated_tokens, n: 2, length: 4, repeats: 2, low: 32, high: 256}\n"
    "metric: logit_diff\n"
    "analyses:\n"
    "  - {name: resid, kind: activation_patching, sites: [hook_resid_pre]}\n"
    "sharding: {batch_size: 4}\n"
    "store: runs/s\n";

fs::path make_project(const fs::path& at) {
  fs::create_directories(at / "models");
  fs::copy(csweep::testing::source_path("examples/models/induction-2l"),
           at / "models" / "induction-2l", fs::copy_options::recursive);
  std::ofstream(at / "job.yaml") << kJob;
  return at;
}

// `cd DIR && csweep ARGS`
testing::CommandResult csweep_in(const fs::path& dir, const std::string& args) {
  return run_command("cd '" + dir.string() + "' && " + csweep_bin() + " " + args);
}

nlohmann::json read_sweep_h5(const fs::path& file) {
  const auto r = run_command(
      "/usr/bin/python3 " + csweep::testing::source_path("tests/report/read_sweep_h5.py").string() +
      " " + file.string());
  EXPECT_EQ(r.status, 0) << r.output;
  return nlohmann::json::parse(r.output, nullptr, false);
}

TEST(StoreRelocation, MovedAndSymlinkedProjectResumesAndReducesAlikeFromAnyDirectory) {
  const fs::path root = testing::fresh_dir("relocation");
  const fs::path reference = make_project(root / "reference");
  ASSERT_EQ(csweep_in(reference, "run job.yaml").status, 0);
  ASSERT_EQ(csweep_in(reference, "reduce runs/s").status, 0);

  // Half the job, then the project moves.
  const fs::path before = make_project(root / "before");
  const auto half = csweep_in(before, "run job.yaml --slice 1/2");
  ASSERT_EQ(half.status, 0) << half.output;
  const fs::path after = root / "after";
  fs::rename(before, after);
  const auto resumed = csweep_in(after, "run job.yaml");
  ASSERT_EQ(resumed.status, 0) << resumed.output;
  const auto provenance = nlohmann::json::parse(read_text(after / "runs/s/provenance.json"));
  ASSERT_EQ(provenance["runs"].size(), 2u);
  EXPECT_GT(provenance["runs"][1]["shards_done_at_start"].get<int64_t>(), 0)
      << "resumed, not restarted";

  // Through a symlink: the same store, nothing left to do.
  const fs::path link = root / "link";
  fs::create_directory_symlink(after, link);
  const auto via_link = run_command(csweep_bin() + " run " + (link / "job.yaml").string());
  EXPECT_EQ(via_link.status, 0) << via_link.output;

  // reduce from the project and from elsewhere: one sweep.h5; through the link: the same values.
  ASSERT_EQ(csweep_in(after, "reduce runs/s").status, 0);
  const auto here = read_sweep_h5(after / "runs/s/sweep.h5");
  const auto r = csweep_in(fs::path("/"), "reduce " + (after / "runs/s").string());
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_EQ(r.output.find("without token strings"), std::string::npos) << r.output;
  const auto elsewhere = read_sweep_h5(after / "runs/s/sweep.h5");
  EXPECT_EQ(here, elsewhere);
  ASSERT_EQ(csweep_in(root, "reduce link/runs/s").status, 0);
  EXPECT_EQ(read_sweep_h5(after / "runs/s/sweep.h5")["analyses"], here["analyses"]);

  const auto expected = read_sweep_h5(reference / "runs/s/sweep.h5");
  const auto& got = elsewhere["analyses"]["resid"];
  EXPECT_EQ(got["datasets"]["per_prompt"]["values"],
            expected["analyses"]["resid"]["datasets"]["per_prompt"]["values"]);
  EXPECT_EQ(got["attrs"]["metric"], "logit_diff");
  EXPECT_EQ(elsewhere["prompt_tokens"], expected["prompt_tokens"]);
  ASSERT_TRUE(elsewhere["prompt_tokens"][0][0].is_string());
  EXPECT_FALSE(elsewhere["prompt_tokens"][0][0].get<std::string>().empty());

  // validate finds the stored spec from anywhere too (its validation section is empty: the
  // refusal names that, not an unparseable spec).
  const auto v = csweep_in(fs::path("/"), "validate " + (link / "runs/s").string());
  EXPECT_EQ(v.output.find("cannot be parsed"), std::string::npos) << v.output;
}

}  // namespace
}  // namespace csweep::report
