// The store without MPI: layout validation, fragments written and merged, duplicates and
// conflicts, damaged fragments and rows, spec-hash refusal, the lock, and h5py read-back.
#include <gtest/gtest.h>
#include <hdf5.h>

#include <cmath>
#include <cstdlib>
#include <fstream>

#include "common/error.h"
#include "store/fragment_writer.h"
#include "store/reader.h"
#include "store/sha256.h"
#include "store/store.h"

namespace fs = std::filesystem;
using namespace csweep::store;

namespace {

fs::path fresh_dir(const std::string& name) {
  fs::path d = fs::path(CSWEEP_BINARY_DIR) / "test-tmp" / "store" / name;
  fs::remove_all(d);
  fs::create_directories(d.parent_path());
  return d;
}

// 2 analyses ([layer 2, pos 3] and [head 4]) x 2 prompts; shards of 2..3 cells.
Layout small_layout() {
  Layout l;
  l.analyses = {{"resid", "activation_patching", {{"layer", 2, {"0", "1"}}, {"pos", 3, {"a", "b", "c"}}}},
                {"heads/z", "ablation", {{"head", 4, {}}}}};
  l.prompt_ids = {"p0", "p1"};
  uint32_t id = 0;
  for (uint32_t p = 0; p < 2; ++p) {
    l.shards.push_back({id++, 0, p, 0, 3});
    l.shards.push_back({id++, 0, p, 3, 6});
    l.shards.push_back({id++, 1, p, 0, 2});
    l.shards.push_back({id++, 1, p, 2, 4});
  }
  return l;
}

std::vector<float> values_of(const ShardInfo& s) {
  std::vector<float> v;
  for (int64_t c = s.cell_begin; c < s.cell_end; ++c) v.push_back(100.f * s.analysis + 10.f * s.prompt + c + 0.25f);
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
  EXPECT_EQ(sha256_hex(std::string(1000, 'a')), "41edece42d63e8d9bf515a9ba6932e1c20cbc9f5a5d134645adb5db1b9737ea3");
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
  { Store s = make_store(dir, l, "hash-a"); EXPECT_TRUE(s.created()); }
  { Store s = make_store(dir, l, "hash-a"); EXPECT_FALSE(s.created()); }
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
  const std::string script = std::string(CSWEEP_SOURCE_DIR) + "/tests/store/read_fragment.py";
  const std::string cmd = "/usr/bin/python3 " + script + " " + file.string() + " > " + dir.string() + "/py.out 2>&1";
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
