// The store without MPI: layout validation, fragments written and merged, duplicates and
// conflicts, damaged fragments and rows, spec-hash refusal, the lock, and h5py read-back.
#include <gtest/gtest.h>
#include <hdf5.h>

#include <cmath>
#include <cstdlib>
#include <fstream>

#include "common/error.h"
#include "common/sha256.h"
#include "store/fragment_writer.h"
#include "store/provenance.h"
#include "store/reader.h"
#include "store/run_scope.h"
#include "store/store.h"
#include "tests/store/small_layout.h"
#include "tests/test_paths.h"

namespace fs = std::filesystem;
using namespace csweep::store;
using csweep::sha256_hex;

namespace {

fs::path fresh_dir(const std::string& name) {
  return csweep::testing::fresh_test_dir("store", name);
}

using csweep::testing::small_layout;

std::vector<float> values_of(const ShardInfo& s) {
  std::vector<float> v;
  for (int64_t c = s.cell_begin; c < s.cell_end; ++c)
    v.push_back(100.f * s.analysis + 10.f * s.prompt + c + 0.25f);
  return v;
}

Store make_store(const fs::path& dir, const Layout& l, const std::string& hash = "hash-a") {
  return Store::open_for_run(dir, {"name: test\n", hash, l}, false);
}

}  // namespace

TEST(Layout, JsonRoundTripAndValidation) {
  Layout l = small_layout();
  EXPECT_EQ(Layout::from_json(l.to_json(), "x"), l);
  EXPECT_EQ(l.analyses[0].cells(), 6);
  EXPECT_EQ(l.total_cells(), 20);
  auto gap = l.to_json();
  gap["shards"][1][3] = 4;  // shard 1 starts at 4: cell 3 uncovered
  try {
    Layout::from_json(gap, "layout.json");
    FAIL() << "a gap was accepted";
  } catch (const csweep::Error& e) {
    EXPECT_NE(std::string(e.what()).find("layout.json: shards"), std::string::npos) << e.what();
  }
  auto bad_id = l.to_json();
  bad_id["shards"][2][0] = 7;
  EXPECT_THROW(Layout::from_json(bad_id, "layout.json"), csweep::Error);
}

TEST(Sha256, KnownVectors) {
  EXPECT_EQ(sha256_hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(sha256_hex(std::string(1000, 'a')),
            "41edece42d63e8d9bf515a9ba6932e1c20cbc9f5a5d134645adb5db1b9737ea3");
}

// Model file hashes equal xxhash's own command-line tool (xxh128sum).
TEST(ModelHashes, EqualXxh128sum) {
  if (std::system("command -v xxh128sum >/dev/null") != 0)
    GTEST_SKIP() << "xxh128sum not installed (Debian: xxhash)";
  const fs::path dir = fresh_dir("model-hashes");
  fs::create_directories(dir);
  std::string bytes(3'000'001, '\0');
  for (size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<char>((i * 2654435761u) >> 13);
  std::ofstream(dir / "model.safetensors", std::ios::binary) << bytes;
  std::ofstream(dir / "config.json") << "{}";
  const nlohmann::json files = csweep::store::hash_model_files(dir);
  ASSERT_EQ(files.size(), 2u);
  for (const auto& f : files) {
    EXPECT_EQ(f["hash_kind"], "xxh3-128");
    const std::string cmd = "xxh128sum '" + (dir / f["file"].get<std::string>()).string() +
                            "' > '" + (dir.string() + ".sum") + "'";
    ASSERT_EQ(std::system(cmd.c_str()), 0);
    std::ifstream in(dir.string() + ".sum");
    std::string want;
    in >> want;
    EXPECT_EQ(f["hash"], want) << f["file"];
  }
  const nlohmann::json again = csweep::store::hash_model_files(dir);
  EXPECT_EQ(again, files);
  std::ofstream(dir / "config.json") << "{ }";
  EXPECT_NE(csweep::store::hash_model_files(dir), files) << "a changed file must change the hashes";
}

TEST(Fragments, WrittenShardsMergeIntoLabelledArraysWithDoneMask) {
  const fs::path dir = fresh_dir("merge");
  Layout l = small_layout();
  Store s = make_store(dir, l);
  {
    FragmentWriter a(dir, l, "hash-a", {1, "hostA"});
    FragmentWriter b(dir, l, "hash-a", {2, "hostB"});
    for (const auto& sh : l.shards) (sh.id % 2 ? a : b).write(sh, values_of(sh));
    a.write(l.shards[6], values_of(l.shards[6]));  // a re-issued duplicate
    EXPECT_NE(a.file(), b.file());
  }
  StoreContents c = read_store(dir);
  EXPECT_TRUE(c.complete());
  EXPECT_EQ(c.duplicate_shards, 1);
  EXPECT_TRUE(c.conflicts.empty());
  EXPECT_EQ(c.fragments.size(), 2u);
  ASSERT_EQ(c.analyses.size(), 2u);
  EXPECT_EQ(c.analyses[0].at(1, 4), 100.f * 0 + 10.f * 1 + 4 + 0.25f);
  EXPECT_EQ(c.analyses[1].at(0, 3), 100.f + 3 + 0.25f);
  for (uint8_t d : c.analyses[1].done) EXPECT_EQ(d, 1);
  EXPECT_EQ(c.spec_yaml, "name: test\n");
}

TEST(Fragments, PartialStoreLeavesNaNAndZeroMask) {
  const fs::path dir = fresh_dir("partial");
  Layout l = small_layout();
  Store s = make_store(dir, l);
  {
    FragmentWriter w(dir, l, "hash-a", {0, ""});
    w.write(l.shards[0], values_of(l.shards[0]));
  }
  StoreContents c = read_store(dir);
  EXPECT_EQ(c.shards_done, 1);
  EXPECT_FALSE(c.complete());
  EXPECT_EQ(c.analyses[0].done[2], 1);
  EXPECT_EQ(c.analyses[0].done[3], 0);
  EXPECT_TRUE(std::isnan(c.analyses[0].at(0, 3)));
  auto d = scan_done_shards(dir, l, "hash-a");
  EXPECT_EQ(d.count, 1);
  EXPECT_EQ(d.done[0], 1);
}

TEST(Fragments, DifferingDuplicateIsAConflictAndTheFirstCopyWins) {
  const fs::path dir = fresh_dir("conflict");
  Layout l = small_layout();
  Store s = make_store(dir, l);
  {
    FragmentWriter w(dir, l, "hash-a", {0, "a"});
    w.write(l.shards[0], values_of(l.shards[0]));
    auto wrong = values_of(l.shards[0]);
    wrong[1] += 1;
    w.write(l.shards[0], wrong);
  }
  StoreContents c = read_store(dir);
  ASSERT_EQ(c.conflicts.size(), 1u);
  EXPECT_NE(c.conflicts[0].find("shard 0"), std::string::npos);
  EXPECT_EQ(c.analyses[0].at(0, 1), values_of(l.shards[0])[1]);
}

TEST(Fragments, DamagedFragmentsAndRowsAreSkippedNeverCrash) {
  const fs::path dir = fresh_dir("damaged");
  Layout l = small_layout();
  Store s = make_store(dir, l);
  fs::path good, truncated;
  {
    FragmentWriter w(dir, l, "hash-a", {0, "good"});
    w.write(l.shards[0], values_of(l.shards[0]));
    good = w.file();
    FragmentWriter t(dir, l, "hash-a", {0, "trunc"});
    for (int i = 1; i < 4; ++i) t.write(l.shards[i], values_of(l.shards[i]));
    truncated = t.file();
  }
  fs::resize_file(truncated, fs::file_size(truncated) / 2);  // what a kill mid-write can leave
  std::ofstream(dir / "fragments" / "garbage-1-0.h5") << "not hdf5";
  {  // a row whose values were corrupted after the fact fails its checksum
    hid_t f = H5Fopen(good.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
    hid_t d = H5Dopen2(f, "resid/values", H5P_DEFAULT);
    float bad[3] = {9, 9, 9};
    H5Dwrite(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, bad);
    H5Dclose(d);
    H5Fclose(f);
  }
  StoreContents c = read_store(dir);
  EXPECT_EQ(c.shards_done, 0);
  EXPECT_EQ(c.unreadable.size(), 2u);
  // The coordinator moves unreadable ones aside; the reader never modifies anything.
  EXPECT_TRUE(fs::exists(truncated));
  quarantine_fragments(s, c.unreadable);
  EXPECT_FALSE(fs::exists(truncated));
  EXPECT_TRUE(fs::exists(dir / "fragments" / "damaged" / truncated.filename()));
}

TEST(StoreDir, AnotherSpecIsRefusedAndForceNewMovesItAside) {
  const fs::path dir = fresh_dir("spec");
  Layout l = small_layout();
  {
    Store s = make_store(dir, l, "hash-a");
    EXPECT_TRUE(s.created());
  }
  {
    Store s = make_store(dir, l, "hash-a");
    EXPECT_FALSE(s.created());
  }
  try {
    make_store(dir, l, "hash-b");
    FAIL() << "a store of another spec was opened";
  } catch (const csweep::Error& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("spec.hash"), std::string::npos) << m;
    EXPECT_NE(m.find("--force-new"), std::string::npos) << m;
  }
  Store s = Store::open_for_run(dir, {"x", "hash-b", l}, true);
  EXPECT_TRUE(s.created());
  EXPECT_EQ(Store::open_read_only(dir).spec_hash(), "hash-b");
}

TEST(StoreDir, SecondRunOnALockedStoreIsRefused) {
  const fs::path dir = fresh_dir("lock");
  Layout l = small_layout();
  Store first = make_store(dir, l);
  EXPECT_THROW(make_store(dir, l), csweep::Error);
}

TEST(StoreDir, ForeignNonEmptyFolderIsNotAdopted) {
  const fs::path dir = fresh_dir("foreign");
  fs::create_directories(dir);
  std::ofstream(dir / "thesis.tex") << "x";
  EXPECT_THROW(make_store(dir, small_layout()), csweep::Error);
}

TEST(Fragments, ReadableWithH5pyAndH5dump) {
  const fs::path dir = fresh_dir("h5py");
  Layout l = small_layout();
  Store s = make_store(dir, l);
  fs::path file;
  {
    FragmentWriter w(dir, l, "hash-a", {3, "node7"});
    for (const auto& sh : l.shards) w.write(sh, values_of(sh));
    file = w.file();
  }
  const std::string script = csweep::testing::source_path("tests/store/read_fragment.py").string();
  const std::string cmd =
      "/usr/bin/python3 " + script + " " + file.string() + " > " + dir.string() + "/py.out 2>&1";
  ASSERT_EQ(std::system(cmd.c_str()), 0) << std::ifstream(dir / "py.out").rdbuf();
  std::ifstream out(dir / "py.out");
  std::string all((std::istreambuf_iterator<char>(out)), {});
  EXPECT_NE(all.find("OK 8 shards"), std::string::npos) << all;
  const std::string dump = "h5dump -H " + file.string() + " > " + dir.string() + "/dump.out 2>&1";
  ASSERT_EQ(std::system(dump.c_str()), 0);
  std::ifstream d(dir / "dump.out");
  std::string dumped((std::istreambuf_iterator<char>(d)), {});
  EXPECT_NE(dumped.find("axis_names"), std::string::npos);
}

TEST(RunScope, SliceParsingMembershipAndNames) {
  using csweep::store::parse_slice;
  using csweep::store::slice_of_name;
  auto s = parse_slice("2/5");
  EXPECT_TRUE(s.active());
  EXPECT_EQ(s.text(), "2/5");
  EXPECT_EQ(s.tag(), "s2of5");
  EXPECT_TRUE(s.contains(7));
  EXPECT_FALSE(s.contains(8));
  EXPECT_FALSE(parse_slice("0/1").active());  // the whole sweep
  EXPECT_TRUE(parse_slice("0/1").contains(8));
  for (const char* bad : {"5/5", "1/0", "a/2", "1", "", "1/2/3", " 1/2"}) {
    try {
      parse_slice(bad);
      ADD_FAILURE() << bad;
    } catch (const csweep::Error& e) {
      EXPECT_EQ(std::string(e.what()).rfind("--slice", 0), 0u) << e.what();
    }
  }
  EXPECT_EQ(slice_of_name("s2of5-slurm7_2-host-1-0.h5").text(), "2/5");
  EXPECT_EQ(slice_of_name("status-s0of3.json").text(), "0/3");
  EXPECT_FALSE(slice_of_name("host-1-0.h5").active());
  EXPECT_FALSE(slice_of_name("s5of5-x.h5").active());
}

TEST(RunScope, SlurmIdsFromTheEnvironmentOnlyDigits) {
  ::setenv("SLURM_JOB_ID", "1234", 1);
  ::setenv("SLURM_ARRAY_JOB_ID", "1200", 1);
  ::setenv("SLURM_ARRAY_TASK_ID", "../x", 1);  // never reaches a file name
  auto ids = csweep::store::SlurmIds::from_env();
  EXPECT_EQ(ids.job_id, "1234");
  EXPECT_EQ(ids.array_job_id, "1200");
  EXPECT_EQ(ids.array_task_id, "");
  EXPECT_EQ(ids.tag(), "slurm1234");
  ::setenv("SLURM_ARRAY_TASK_ID", "3", 1);
  EXPECT_EQ(csweep::store::SlurmIds::from_env().tag(), "slurm1200_3");
  for (const char* v : {"SLURM_JOB_ID", "SLURM_ARRAY_JOB_ID", "SLURM_ARRAY_TASK_ID"}) ::unsetenv(v);
  EXPECT_TRUE(csweep::store::SlurmIds::from_env().empty());
}

TEST(StoreDir, SlicesShareTheStoreButNotASliceAndNotWithAWholeRun) {
  const fs::path dir = fresh_dir("slices");
  fs::create_directories(dir / "slurm");  // csweep submit got there first
  const Layout l = small_layout();
  const csweep::store::StoreIdentity id{"name: test\n", "hash-a", l};
  Store a = Store::open_for_run(dir, id, false, csweep::store::parse_slice("0/2"));
  EXPECT_TRUE(a.created());
  Store b = Store::open_for_run(dir, id, false, csweep::store::parse_slice("1/2"));  // beside it
  EXPECT_FALSE(b.created());
  EXPECT_EQ(b.status_file().filename(), "status-s1of2.json");
  EXPECT_THROW(Store::open_for_run(dir, id, false, csweep::store::parse_slice("0/2")),
               csweep::Error);
  EXPECT_THROW(Store::open_for_run(dir, id, false),
               csweep::Error);  // a whole run waits for the slices
  EXPECT_THROW(Store::open_for_run(dir, id, true, csweep::store::parse_slice("1/3")),
               csweep::Error);  // --force-new
  // Concurrent provenance updates under the lock lose nothing.
  a.update_provenance([](nlohmann::json& p) { p["runs"].push_back("a"); });
  b.update_provenance([](nlohmann::json& p) { p["runs"].push_back("b"); });
  EXPECT_EQ(a.provenance()["runs"].size(), 2u);
  // A fragment records its slice and Slurm ids, in its name and its attributes.
  {
    csweep::store::WriterInfo w{3, "node7", csweep::store::parse_slice("1/2"), {"42", "40", "1"}};
    csweep::store::FragmentWriter f(dir, l, "hash-a", w);
    EXPECT_EQ(f.file().filename().string().rfind("s1of2-slurm40_1-node7-", 0), 0u) << f.file();
    f.write(l.shards[1], values_of(l.shards[1]));
  }
  auto c = csweep::store::read_store(dir);
  ASSERT_EQ(c.writers.size(), 1u);
  const auto j = c.writers[0].to_json();
  EXPECT_EQ(j["slice"], "1/2");
  EXPECT_EQ(j["rank"], 3);
  EXPECT_EQ(j["host"], "node7");
  EXPECT_EQ(j["slurm"]["job_id"], "42");
  EXPECT_EQ(j["slurm"]["array_job_id"], "40");
  EXPECT_EQ(j["slurm"]["array_task_id"], "1");
  EXPECT_EQ(j["shards"], 1);
  EXPECT_EQ(j["first_copies"], 1);
}
