// `csweep plan` on every example job file (through $CSWEEP_BIN): it prints a plan, its JSON
// is self-consistent, and a bad job file exits 2 with file:line:column reasons.
#include <array>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace {

struct Result {
  int status;
  std::string out;
};

Result run(const std::string& args) {
  // ctest sets CSWEEP_BIN; run by hand, the binary of this build tree is used.
  const char* bin = std::getenv("CSWEEP_BIN");
  std::string cmd = std::string(bin ? bin : CSWEEP_BINARY_DIR "/bin/csweep") + " " + args + " 2>&1";
  Result r{0, ""};
  FILE* pipe = popen(cmd.c_str(), "r");
  std::array<char, 4096> buf;
  size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), pipe)) > 0) r.out.append(buf.data(), n);
  int status = pclose(pipe);
  r.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

std::vector<std::filesystem::path> example_jobs() {
  std::vector<std::filesystem::path> files;
  for (const auto& e :
       std::filesystem::directory_iterator(std::filesystem::path(CSWEEP_SOURCE_DIR) / "examples"))
    if (e.path().extension() == ".yaml") files.push_back(e.path());
  std::sort(files.begin(), files.end());
  return files;
}

TEST(PlanCli, EveryExamplePrintsAPlan) {
  auto files = example_jobs();
  ASSERT_GE(files.size(), 8u);  // one per analysis kind
  std::set<std::string> kinds;
  for (const auto& f : files) {
    SCOPED_TRACE(f.string());
    Result text = run("plan " + f.string() + " --ranks 3");
    ASSERT_EQ(text.status, 0) << text.out;
    EXPECT_NE(text.out.find("shards"), std::string::npos) << text.out;
    EXPECT_NE(text.out.find("coordinator rank 0, 2 worker group(s)"), std::string::npos)
        << text.out;

    Result json = run("plan " + f.string() + " --ranks 5 --json --shards");
    ASSERT_EQ(json.status, 0) << json.out;
    auto j = nlohmann::json::parse(json.out);
    EXPECT_EQ(j["format"], "csweep-plan");
    EXPECT_EQ(j["version"], 1);
    int64_t units = 0, shards = 0;
    double flops = 0;
    for (const auto& a : j["analyses"]) {
      kinds.insert(a["kind"].get<std::string>());
      units += a["units"].get<int64_t>();
      shards += a["shards"].get<int64_t>();
      flops += a["flops"].get<double>();
    }
    EXPECT_EQ(j["totals"]["units"].get<int64_t>(), units);
    EXPECT_EQ(j["totals"]["shards"].get<int64_t>(), shards);
    EXPECT_EQ(static_cast<int64_t>(j["shards"].size()), shards);
    EXPECT_NEAR(j["totals"]["flops"].get<double>(), flops, 1e-6 * flops);
    EXPECT_EQ(j["ranks"]["worker_groups"].size(), 4u);
    EXPECT_GT(j["estimate"]["seconds"].get<double>(), 0.0);
    EXPECT_EQ(j["job"]["hash"].get<std::string>().size(), 64u);
  }
  EXPECT_EQ(kinds.size(), 19u);  // weight_circuits.yaml and sae_features.yaml hold several kinds
}

TEST(PlanCli, BadJobFileExitsTwoWithEveryReason) {
  auto file = std::filesystem::path(CSWEEP_SOURCE_DIR) / "examples" / "activation_patching.yaml";
  std::ifstream in(file);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  text.replace(text.find("layers: all"), 11, "layers: [9]");
  text.replace(text.find("sites: [attn.hook_z]"), 20, "sites: [attn.hook_zz]");
  auto bad = std::filesystem::temp_directory_path() / "csweep-bad-job.yaml";
  text.replace(text.find("../../shared/fixtures/gpt2-tiny"), 31,
               (std::filesystem::path(CSWEEP_SOURCE_DIR) / "../shared/fixtures/gpt2-tiny")
                   .lexically_normal()
                   .string());
  std::ofstream(bad) << text;
  Result r = run("plan " + bad.string());
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(
      r.out.find("csweep: " + bad.string() + ":20:14: analyses[0].layers[0]: layer 9 out of range"),
      std::string::npos)
      << r.out;
  EXPECT_NE(
      r.out.find(bad.string() + ":24:13: analyses[1].sites[0]: unknown hook site \"attn.hook_zz\""),
      std::string::npos)
      << r.out;
}

TEST(PlanCli, RankCountThatDoesNotFitTensorParallelism) {
  auto file = std::filesystem::path(CSWEEP_SOURCE_DIR) / "examples" / "logit_lens.yaml";
  Result r = run("plan " + file.string() + " --ranks 0");
  EXPECT_EQ(r.status, 2);
  EXPECT_EQ(r.out, "csweep: --ranks: must be at least 1, got 0\n");
}

}  // namespace
