// Baselines recorded by the workers (store/baselines.h): exact round trip, torn and damaged
// lines, other specs, conflicts, a writer SIGKILLed mid-append; then end to end: `csweep run`
// (one process and mpirun -np 3) + `csweep reduce` on examples/activation_patching.yaml gives
// the fixture's TransformerLens baselines and fraction recovered, identical for both rank
// counts, and STORE/baselines.json still overrides.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstring>
#include <fstream>
#include <limits>
#include <thread>

#include "common/error.h"
#include "store/baselines.h"
#include "store/store.h"
#include "tests/test_paths.h"

namespace fs = std::filesystem;
using namespace csweep::store;

namespace {

fs::path fresh_dir(const std::string& name) {
  fs::path d = csweep::testing::build_path("test-tmp") / "baselines" / name;
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

Layout layout_with(uint32_t n_prompts) {
  Layout l;
  l.analyses = {{"resid", "activation_patching", {{"layer", 2, {}}}},
                {"heads/z", "causal_tracing", {{"head", 3, {}}}}};
  for (uint32_t p = 0; p < n_prompts; ++p) l.prompt_ids.push_back("p" + std::to_string(p));
  return l;
}

// Values that do not survive a decimal round trip at less than 17 digits.
Baseline value_of(uint32_t a, uint32_t p) {
  return {std::nextafter(a + 0.1 * p, 1e9), -1.0 / 3.0 - a - p};
}

bool bits_equal(double x, double y) { return std::memcmp(&x, &y, sizeof x) == 0; }

std::string slurp(const fs::path& f) {
  std::ifstream in(f, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

int run(const std::string& command) {
  int status = std::system(command.c_str());
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

using csweep::testing::csweep_bin;

}  // namespace

TEST(Baselines, RoundTripIsBitExact) {
  const fs::path dir = fresh_dir("roundtrip");
  const Layout l = layout_with(3);
  {
    BaselinesWriter w(dir, "host-1-0", "hash-a", 1);
    w.record(l, 0, 2, value_of(0, 2));
    w.record(l, 1, 0, value_of(1, 0));
    w.record(l, 1, 0, {99.0, 99.0});  // already recorded by this writer: ignored
    w.record(l, 1, 1, {std::numeric_limits<double>::quiet_NaN(), 2.5});
    EXPECT_TRUE(w.has(1, 0));
    EXPECT_FALSE(w.has(0, 0));
    EXPECT_THROW(w.record(l, 2, 0, {}), csweep::Error);
    EXPECT_THROW(w.record(l, 0, 3, {}), csweep::Error);
  }
  const RecordedBaselines r = read_baselines(dir, l, "hash-a");
  ASSERT_EQ(r.files.size(), 1u);
  EXPECT_TRUE(r.conflicts.empty());
  EXPECT_EQ(r.known[0], (std::vector<uint8_t>{0, 0, 1}));
  EXPECT_EQ(r.known[1], (std::vector<uint8_t>{1, 1, 0}));
  EXPECT_TRUE(bits_equal(r.values[0][2].clean, value_of(0, 2).clean));
  EXPECT_TRUE(bits_equal(r.values[0][2].corrupted, value_of(0, 2).corrupted));
  EXPECT_TRUE(bits_equal(r.values[1][0].clean, value_of(1, 0).clean));
  EXPECT_TRUE(std::isnan(r.values[1][1].clean));
  EXPECT_EQ(r.values[1][1].corrupted, 2.5);
  // A second writer never reuses a file.
  EXPECT_THROW(BaselinesWriter(dir, "host-1-0", "hash-a", 1), csweep::Error);
}

TEST(Baselines, TornDamagedAndForeignLinesAreDropped) {
  const fs::path dir = fresh_dir("damaged");
  const Layout l = layout_with(4);
  fs::path file;
  {
    BaselinesWriter w(dir, "a", "hash-a", 1);
    for (uint32_t p = 0; p < 4; ++p) w.record(l, 0, p, value_of(0, p));
    file = w.file();
  }
  std::string text = slurp(file);
  // Line 2 (prompt 1): flip a digit, so its check no longer matches. Last line: cut short.
  size_t line2 = text.find('\n', text.find('\n') + 1) + 1;
  size_t digit = text.find_first_of("123456789", text.find("\"clean\"", line2));
  text[digit] = text[digit] == '9' ? '8' : '9';
  text.resize(text.size() - 5);
  std::ofstream(file, std::ios::binary | std::ios::trunc) << text;
  {
    BaselinesWriter other(dir, "b", "hash-OTHER", 2);  // another spec's file: ignored whole
    other.record(l, 0, 1, {7.0, 8.0});
  }
  const RecordedBaselines r = read_baselines(dir, l, "hash-a");
  EXPECT_EQ(r.known[0], (std::vector<uint8_t>{1, 0, 1, 0}));
  EXPECT_TRUE(bits_equal(r.values[0][2].clean, value_of(0, 2).clean));
  EXPECT_EQ(r.files.size(), 1u);
  EXPECT_EQ(r.ignored.size(), 1u);
  // A store without a baselines folder has none, and no error.
  const RecordedBaselines none = read_baselines(fresh_dir("none"), l, "hash-a");
  EXPECT_EQ(none.known[1], (std::vector<uint8_t>(4, 0)));
}

TEST(Baselines, CopiesFromSeveralWritersAreComparedBitForBit) {
  const fs::path dir = fresh_dir("conflicts");
  const Layout l = layout_with(2);
  {
    BaselinesWriter a(dir, "a", "h", 1), b(dir, "b", "h", 2), c(dir, "c", "h", 3);
    a.record(l, 0, 0, value_of(0, 0));
    b.record(l, 0, 0, value_of(0, 0));  // a re-issued shard's writer: same bits, no conflict
    Baseline off = value_of(0, 0);
    off.corrupted = std::nextafter(off.corrupted, 0.0);
    c.record(l, 0, 0, off);
  }
  const RecordedBaselines r = read_baselines(dir, l, "h");
  ASSERT_EQ(r.conflicts.size(), 1u);
  EXPECT_NE(r.conflicts[0].find("c.jsonl"), std::string::npos);
  EXPECT_NE(r.conflicts[0].find("resid/p0"), std::string::npos);
  EXPECT_TRUE(
      bits_equal(r.values[0][0].corrupted, value_of(0, 0).corrupted));  // the first file wins
}

// A writer killed with SIGKILL while appending: every line it completed is read back exactly,
// in order, and nothing else.
TEST(Baselines, SurvivesSigkillMidAppend) {
  const fs::path dir = fresh_dir("sigkill");
  const Layout l = layout_with(200000);
  const fs::path file = dir / "baselines" / "victim.jsonl";
  pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    BaselinesWriter w(dir, "victim", "h", 1);
    for (uint32_t p = 0; p < 200000; ++p) w.record(l, p % 2, p, value_of(p % 2, p));
    for (;;) ::pause();  // finished before the kill (a very slow parent): still killed
  }
  while (!fs::exists(file) || fs::file_size(file) < 200000)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  ::kill(child, SIGKILL);
  int status = 0;
  ::waitpid(child, &status, 0);
  ASSERT_TRUE(WIFSIGNALED(status));
  const RecordedBaselines r = read_baselines(dir, l, "h");
  uint32_t n = 0;
  while (n < 200000 && r.known[n % 2][n]) ++n;
  EXPECT_GT(n, 500u);
  for (uint32_t p = 0; p < 200000; ++p) {
    ASSERT_EQ(r.known[p % 2][p], p < n ? 1 : 0) << "prompt " << p;
    ASSERT_EQ(r.known[1 - p % 2][p], 0);
    if (p < n) {
      ASSERT_TRUE(bits_equal(r.values[p % 2][p].clean, value_of(p % 2, p).clean)) << p;
    }
  }
}

// The real thing: the workers record the baselines, reduce turns them into fraction recovered.
TEST(BaselinesEndToEnd, ActivationPatchingFixtureHasFractionRecovered) {
  const std::string job =
      csweep::testing::source_path("examples/activation_patching.yaml").string();
  const std::string reference =
      (csweep::testing::shared_fixture("gpt2-tiny") / "reference.json").string();
  const fs::path one = fresh_dir("e2e-one") / "store", three = fresh_dir("e2e-three") / "store";
  ASSERT_EQ(run(csweep_bin() + " run " + job + " --store " + one.string() + " > /dev/null"), 0);
  ASSERT_EQ(run("mpirun --allow-run-as-root -np 3 --oversubscribe " + csweep_bin() + " run " + job +
                " --store " + three.string() + " > /dev/null"),
            0);
  ASSERT_EQ(run(csweep_bin() + " reduce " + one.string() + " > /dev/null"), 0);
  EXPECT_EQ(run("/usr/bin/python3 " +
                csweep::testing::source_path("tests/store/check_fraction_recovered.py").string() +
                " " + one.string() + " " + reference),
            0);

  // Identical for one process and three ranks, and every (analysis, prompt) is there.
  const Store s1 = Store::open_read_only(one), s3 = Store::open_read_only(three);
  ASSERT_EQ(s1.spec_hash(), s3.spec_hash());
  const RecordedBaselines b1 = read_baselines(one, s1.layout(), s1.spec_hash());
  const RecordedBaselines b3 = read_baselines(three, s3.layout(), s3.spec_hash());
  EXPECT_EQ(b1.files.size(), 1u);
  EXPECT_EQ(b3.files.size(), 2u);  // one per worker rank
  EXPECT_TRUE(b1.conflicts.empty());
  EXPECT_TRUE(b3.conflicts.empty());
  ASSERT_EQ(b1.values.size(), 3u);
  for (size_t a = 0; a < b1.values.size(); ++a) {
    ASSERT_EQ(b1.known[a], std::vector<uint8_t>{1});
    ASSERT_EQ(b3.known[a], std::vector<uint8_t>{1});
    EXPECT_TRUE(bits_equal(b1.values[a][0].clean, b3.values[a][0].clean));
    EXPECT_TRUE(bits_equal(b1.values[a][0].corrupted, b3.values[a][0].corrupted));
  }

  // STORE/baselines.json overrides what the workers recorded.
  std::ofstream(one / "baselines.json")
      << R"({"resid_pre": {"clean": [10.0], "corrupted": [0.0]}})";
  ASSERT_EQ(run(csweep_bin() + " reduce " + one.string() + " > /dev/null"), 0);
  EXPECT_EQ(
      run("/usr/bin/python3 -c \"import h5py, numpy as np, sys; "
          "g = h5py.File(sys.argv[1])['analyses/resid_pre']; "
          "sys.exit(0 if g['clean_baseline'][0] == 10.0 and "
          "np.allclose(g['fraction_recovered'][()], g['mean'][()] / 10.0, atol=1e-6) else 1)\" " +
          (one / "sweep.h5").string()),
      0);
}

// Causal tracing stores indirect effects (restored - noised): reduce normalises them by the
// total effect (clean - noised), so restoring the last layer's residual at the last position
// recovers exactly 1 and restoring a position before the noised subject exactly 0.
TEST(BaselinesEndToEnd, CausalTracingFractionIsIndirectOverTotalEffect) {
  const std::string job = csweep::testing::source_path("examples/causal_tracing.yaml").string();
  const fs::path store = fresh_dir("e2e-tracing") / "store";
  ASSERT_EQ(run(csweep_bin() + " run " + job + " --store " + store.string() + " > /dev/null"), 0);
  ASSERT_EQ(run(csweep_bin() + " reduce " + store.string() + " --no-html > /dev/null"), 0);
  EXPECT_EQ(run("/usr/bin/python3 -c \"import h5py, sys; "
                "g = h5py.File(sys.argv[1])['analyses/trace_resid']; "
                "assert list(g.attrs['axes']) == ['layer', 'pos'], g.attrs['axes']; "
                "f = g['fraction_recovered'][()]; "
                "assert g['corrupted_baseline'][0] == 0 and g['clean_baseline'][0] > 0.1, "
                "g['clean_baseline'][()]; "
                "assert abs(f[-1, -1] - 1) < 1e-4, f; assert abs(f[:, 0]).max() < 1e-4, f\" " +
                (store / "sweep.h5").string()),
            0);
}
