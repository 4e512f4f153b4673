// Hostile job files (issue 15): quantities bounded before anything is generated, strings that
// are not UTF-8, checkpoints whose config or weight files cannot be what they claim — each a
// one-line error naming file and field, from the parser and from `csweep plan` / `csweep run`
// (exit 2, no store created).
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "common/error.h"
#include "jobs/job_spec.h"
#include "tests/run_command.h"
#include "tests/test_paths.h"

namespace fs = std::filesystem;

namespace {

using csweep::testing::csweep_bin;
using csweep::testing::run_command;

const fs::path kFixture = csweep::testing::shared_fixture("gpt2-tiny");

// A folder with a copy of the fixture model and job.yaml = the given body after `model:`.
fs::path job_folder(const std::string& name, const std::string& body) {
  const fs::path d = csweep::testing::fresh_test_dir("hostile-jobs", name);
  fs::create_directories(d);
  fs::copy(kFixture, d / "model");
  for (const auto& e : fs::directory_iterator(d / "model"))  // the fixture is read-only
    fs::permissions(e.path(), fs::perms::owner_write, fs::perm_options::add);
  std::ofstream(d / "job.yaml", std::ios::binary) << body;
  return d;
}

const std::string kModel = "model: {path: model}\n";
const std::string kPrompt =
    "prompts:\n  - {id: p0, clean: [201, 888, 641, 766], corrupted: [201, 888, 45, 766], answer: "
    "613, wrong: 486}\n";
const std::string kAnalysis =
    "analyses:\n  - {name: r, kind: activation_patching, sites: [hook_resid_pre]}\n";

std::string parse_error(const fs::path& job) {
  try {
    csweep::jobs::load_job_spec(job);
  } catch (const csweep::Error& e) {
    return e.what();
  }
  return "";
}

// `csweep plan` and `csweep run` (with `options`) both refuse the job in DIR with one line
// holding `expected`, exit 2, and run creates no store.
void expect_refused(const fs::path& dir, const std::string& expected,
                    const std::string& options = "") {
  for (const std::string cmd : {"plan", "run"}) {
    const auto start = std::chrono::steady_clock::now();
    const auto o =
        run_command(csweep_bin() + " " + cmd + " " + (dir / "job.yaml").string() + options);
    EXPECT_EQ(o.status, 2) << cmd << "\n" << o.output;
    EXPECT_EQ(std::count(o.output.begin(), o.output.end(), '\n'), 1) << cmd << "\n" << o.output;
    EXPECT_NE(o.output.find(expected), std::string::npos) << cmd << "\n" << o.output;
    EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(30)) << cmd;
  }
  EXPECT_FALSE(fs::exists(dir / "s.store")) << "a refused run created the store";
}

}  // namespace

TEST(HostileJobs, TemplateQuantitiesAreBoundedBeforeAnythingIsGenerated) {
  const fs::path many =
      job_folder("many", kModel + "prompts:\n  - {template: repeated_tokens, n: 1000000000000}\n" +
                             kAnalysis + "store: s.store\n");
  EXPECT_NE(parse_error(many / "job.yaml")
                .find("job.yaml:3:36: prompts[0].n: 1000000000000 prompts exceed the limit of "
                      "1048576 prompts per job"),
            std::string::npos)
      << parse_error(many / "job.yaml");
  expect_refused(many, "prompts[0].n: 1000000000000 prompts exceed the limit");

  const fs::path in_total = job_folder(
      "tokens", kModel + "prompts:\n  - {template: repeated_tokens, n: 1000000, length: 30}\n" +
                    kAnalysis + "store: s.store\n");
  EXPECT_NE(parse_error(in_total / "job.yaml")
                .find("prompts[0].n: 1000000 prompts of 59 tokens exceed the limit of 16777216 "
                      "prompt tokens per job"),
            std::string::npos)
      << parse_error(in_total / "job.yaml");

  const fs::path long_prompts = job_folder(
      "long",
      kModel +
          "prompts:\n  - {template: repeated_tokens, n: 2, length: 1000000000000, repeats: 3}\n" +
          kAnalysis + "store: s.store\n");
  EXPECT_NE(parse_error(long_prompts / "job.yaml")
                .find("prompts[0]: length 1000000000000 x repeats 3 makes prompts longer than the "
                      "model's context of "
                      "64 tokens"),
            std::string::npos)
      << parse_error(long_prompts / "job.yaml");
}

TEST(HostileJobs, InvalidUtf8InAStringIsOneLineNamingFileLineAndField) {
  const fs::path dir = job_folder(
      "utf8", "name: \"\xff\xfe\"\n" + kModel + kPrompt + kAnalysis + "store: s.store\n");
  const std::string e = parse_error(dir / "job.yaml");
  EXPECT_EQ(e, (dir / "job.yaml").string() + ":1:7: name: not valid UTF-8 (byte 0xFF at offset 0)");
  // was: "internal error: [json.exception.type_error.316] invalid UTF-8 byte ..." (exit 3) from run
  expect_refused(dir, "name: not valid UTF-8 (byte 0xFF at offset 0)");
  const fs::path overlong = job_folder(
      "overlong", "name: \"ok \xc0\xaf\"\n" + kModel + kPrompt + kAnalysis + "store: s.store\n");
  EXPECT_NE(
      parse_error(overlong / "job.yaml").find("name: not valid UTF-8 (byte 0xC0 at offset 3)"),
      std::string::npos);
  const fs::path fine =
      job_folder("fine", "name: \"s\xc3\xa9rie \xe2\x9c\x93 \xf0\x9f\x98\x80\"\n" + kModel +
                             kPrompt + kAnalysis + "store: s.store\n");
  EXPECT_EQ(parse_error(fine / "job.yaml"), "");
}

TEST(HostileJobs, AbsurdConfigSizesAreRefusedByPlanAndRun) {
  const std::string job = kModel + kPrompt + kAnalysis + "store: s.store\n";
  for (const auto& [key, value] : {std::pair<std::string, std::string>{"n_layer", "1000000000"},
                                   {"n_embd", "1000000000"},
                                   {"vocab_size", "1000000000000"},
                                   {"n_layer", "4000"}}) {
    SCOPED_TRACE(key + " " + value);
    const fs::path dir = job_folder("config-" + key + "-" + value, job);
    std::ifstream in(dir / "model" / "config.json");
    std::stringstream text;
    text << in.rdbuf();
    std::string config = text.str();
    const std::string needle = "\"" + key + "\": ";
    const size_t at = config.find(needle);
    ASSERT_NE(at, std::string::npos);
    const size_t end = config.find_first_of(",\n", at);
    config.replace(at + needle.size(), end - at - needle.size(), value);
    std::ofstream(dir / "model" / "config.json") << config;
    // was: plan and run grew until killed (n_layer), or planned 13209.7 PiB per rank and
    // created the store before the worker refused the weights (n_embd, vocab_size)
    expect_refused(dir, (dir / "model" / "config.json").string() + ": " + key + ": " + value);
  }
}

TEST(HostileJobs, TruncatedWeightsAreRefusedByPlanAndRunBeforeAStoreExists) {
  const fs::path dir = job_folder("truncated", kModel + kPrompt + kAnalysis + "store: s.store\n");
  const fs::path weights = dir / "model" / "model.safetensors";
  fs::resize_file(weights, fs::file_size(weights) - 100);
  expect_refused(dir, weights.string() + ": ");
}

TEST(HostileJobs, ConfigShapesThatDisagreeWithTheTensorsAreRefusedBeforeAStoreExists) {
  // n_positions 32 still fits the file sizes (the config implies fewer parameters), but the
  // checkpoint's position embedding has 64 rows: was caught only by the worker's loader, after
  // the store existed.
  const fs::path dir = job_folder("shapes", kModel + kPrompt + kAnalysis + "store: s.store\n");
  std::ifstream in(dir / "model" / "config.json");
  std::stringstream text;
  text << in.rdbuf();
  std::string config = text.str();
  const std::string from = "\"n_positions\": 64", to = "\"n_positions\": 32";
  const size_t at = config.find(from);
  ASSERT_NE(at, std::string::npos);
  config.replace(at, from.size(), to);
  std::ofstream(dir / "model" / "config.json") << config;
  expect_refused(dir, (dir / "model" / "model.safetensors").string() +
                          ": tensor 'wpe.weight': shape [64,64] but gpt2 with this config.json "
                          "needs [32,64]");
}

TEST(HostileJobs, AJobThatDoesNotFitTheMemoryPerRankIsRefusedBeforeAStoreExists) {
  // gpt2-tiny in float32, this job: 852 KiB of weights and 159 KiB of activations per rank.
  const fs::path dir = job_folder("memory", kModel + kPrompt + kAnalysis + "store: s.store\n");
  const std::string job = (dir / "job.yaml").string();
  expect_refused(dir, job + ": model.tensor_parallel: one rank needs ", " --mem-per-rank 500KiB");
  expect_refused(dir, job + ": sharding.memory_budget: one rank needs ", " --mem-per-rank 900KiB");
  expect_refused(dir,
                 "--mem-per-rank: expected a positive size such as 16GiB or 4000MB, got 'lots'",
                 " --mem-per-rank lots");
  // What fits is planned and run, and the plan says against what it was checked.
  const auto plan = run_command(csweep_bin() + " plan " + job + " --mem-per-rank 64MiB --json");
  ASSERT_EQ(plan.status, 0) << plan.output;
  EXPECT_NE(plan.output.find("\"limit_per_rank_bytes\": 67108864"), std::string::npos)
      << plan.output;
  EXPECT_NE(plan.output.find("\"limit_source\": \"--mem-per-rank\""), std::string::npos)
      << plan.output;
  const auto host = run_command(csweep_bin() + " plan " + job);
  ASSERT_EQ(host.status, 0) << host.output;
  EXPECT_NE(host.output.find("per rank (host memory "), std::string::npos) << host.output;
  const auto run = run_command(csweep_bin() + " run " + job + " --mem-per-rank 64MiB");
  EXPECT_EQ(run.status, 0) << run.output;
}

TEST(HostileJobs, GradientKindsUnderTensorParallelismAreRefusedBeforeAStoreExists) {
  // Autograd does not run through the collectives: attribution patching needs one process.
  const fs::path dir = job_folder(
      "tp-gradients", "model: {path: model, tensor_parallel: 2}\n" + kPrompt +
                          "analyses:\n  - {name: atp, kind: attribution_patching, sites: "
                          "[hook_resid_pre]}\nstore: s.store\n");
  expect_refused(dir, (dir / "job.yaml").string() +
                          ":1:39: model.tensor_parallel: 2: analysis \"atp\" "
                          "(attribution_patching) needs gradients through the collectives, which "
                          "tensor parallelism does not support; use 1");
}

TEST(HostileJobs, EdgeCircuitsUnderTensorParallelismAreRefusedBeforeAStoreExists) {
  // Each receiver of an edge circuit reads every head's output: not split across ranks.
  const fs::path dir = job_folder(
      "tp-edge-circuit", "model: {path: model, tensor_parallel: 2}\n" + kPrompt +
                             "analyses:\n  - {name: c, kind: circuit_faithfulness, universe: "
                             "edges, edges: [m0->logits]}\nstore: s.store\n");
  expect_refused(dir, (dir / "job.yaml").string() +
                          ":1:39: model.tensor_parallel: 2: analysis \"c\" (circuit_faithfulness, "
                          "universe: edges) needs every head's whole output on each rank, which "
                          "tensor parallelism does not support; use 1");
}
