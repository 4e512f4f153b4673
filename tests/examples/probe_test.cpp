// examples/probe.yaml end to end (csweep plan, run, a resumed rerun, reduce): the plan gives the
// whole prompt set one shard; in sweep.h5 the probe reads "repeated" at the last token after the
// induction layer and is at chance at the first token and in the shuffled-label control
// (tests/examples/check_probe.py).
#include <gtest/gtest.h>

#include <fstream>

#include <nlohmann/json.hpp>

#include "tests/examples/run_example.h"

namespace csweep::testing {
namespace {

TEST(ProbeExample, ReadsRepetitionAfterTheInductionLayerOnly) {
  const std::string job = source_path("examples/probe.yaml").string();
  const CommandResult plan = run_command(csweep_bin() + " plan " + job + " --json");
  ASSERT_EQ(plan.status, 0) << plan.output;
  const auto j = nlohmann::json::parse(plan.output);
  EXPECT_EQ(j["analyses"][0]["units"], 24);  // 2 sites x 2 layers x 3 tokens x 2, once per set
  EXPECT_EQ(j["analyses"][0]["shards"], 1);
  EXPECT_GT(j["analyses"][0]["flops"].get<double>(), 0.0);

  const auto store = fresh_test_dir("examples", "probe");
  const std::string reduced = run_resume_reduce(job, store);
  ASSERT_NE(reduced, "");
  EXPECT_NE(reduced.find("heatmaps/repeated_score_mean.png"), std::string::npos) << reduced;
  std::ifstream html(store / "report.html");
  const std::string report((std::istreambuf_iterator<char>(html)), {});
  EXPECT_NE(report.find("over the whole set of 160 prompts"), std::string::npos);
  const CommandResult check =
      run_command("/usr/bin/python3 " + source_path("tests/examples/check_probe.py").string() +
                  " " + store.string());
  EXPECT_EQ(check.status, 0) << check.output;
  std::filesystem::remove_all(store);
}

// Steering from the example's labelled prompt sets, as a job file asks for it: along the mean
// difference of the prompts labelled 1 and 0, and along a ridge probe's weight telling them apart.
// Scale 0 is the unsteered run (KL 0); scale 8 moves the distribution.
TEST(ProbeExample, SteeringReadsItsDirectionFromTwoLabelledPromptSets) {
  const auto dir = fresh_test_dir("examples", "probe-steering");
  std::filesystem::create_directories(dir);
  const std::string job = (dir / "job.yaml").string();
  std::ofstream(job)
      << "name: probe-steering\nmodel:\n  path: "
      << source_path("examples/models/induction-2l").string()
      << "\n  device: cpu\nprompts:\n  - file: "
      << source_path("examples/probe_prompts.jsonl").string()
      << "\nmetric: kl\nanalyses:\n"
         "  - {name: mean, kind: steering, layers: [1], scales: [0, 8],"
         " quantities: [kl], direction: {mean_difference: {labels: [1, 0]}}}\n"
         "  - {name: probe, kind: steering, layers: [1], scales: [0, 8],"
         " quantities: [kl], direction: {probe: {labels: [1, 0]}}, normalize: true}\n";
  const std::string store = (dir / "store").string();
  const CommandResult run = run_command(csweep_bin() + " run " + job + " --store " + store);
  ASSERT_EQ(run.status, 0) << run.output;
  ASSERT_EQ(run_command(csweep_bin() + " reduce " + store).status, 0);
  const CommandResult check = run_command(
      "/usr/bin/python3 -c \"import h5py, numpy as np, sys; f = h5py.File(sys.argv[1]); "
      "m = [np.asarray(f['analyses'][a]['mean'][()]).ravel() for a in ('mean', 'probe')]; "
      "print(m); sys.exit(0 if all(v[0] == 0 and v[1] > 1e-3 for v in m) else 1)\" " +
      store + "/sweep.h5");
  EXPECT_EQ(check.status, 0) << check.output;
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace csweep::testing
