// Hostile stores (issue 15): a fragment whose datasets claim far more than the file holds is
// skipped as damaged with a warning naming it — by read_store, by `csweep status`, `reduce`
// and `run` (which moves it aside) — never read into memory.
#include <gtest/gtest.h>
#include <hdf5.h>
#include <sys/wait.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "store/fragment_writer.h"
#include "store/reader.h"
#include "store/store.h"
#include "tests/run_command.h"
#include "tests/test_paths.h"

namespace fs = std::filesystem;
using namespace csweep::store;

namespace {

constexpr hsize_t kHugeRows = hsize_t(1) << 40;

using csweep::testing::csweep_bin;
using csweep::testing::run_command;

fs::path fresh_dir(const std::string& name) {
  return csweep::testing::fresh_test_dir("hostile-store", name);
}

// Replaces DATASET ("group/values" or "group/shards") of FILE with a chunked dataset of the
// same type and row shape claiming 2^40 rows, nothing written: a few KiB on disk.
void claim_huge_extent(const fs::path& file, const std::string& dataset) {
  hid_t f = H5Fopen(file.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
  ASSERT_GE(f, 0) << file;
  const bool rows = dataset.size() >= 6 && dataset.substr(dataset.size() - 6) == "shards";
  ASSERT_GE(H5Ldelete(f, dataset.c_str(), H5P_DEFAULT), 0) << dataset;
  const int rank = rows ? 2 : 1;
  hsize_t dims[2] = {kHugeRows, 7}, maxdims[2] = {H5S_UNLIMITED, 7}, chunk[2] = {64, 7};
  hid_t space = H5Screate_simple(rank, dims, maxdims);
  hid_t props = H5Pcreate(H5P_DATASET_CREATE);
  H5Pset_chunk(props, rank, chunk);
  hid_t d = H5Dcreate2(f, dataset.c_str(), rows ? H5T_STD_I64LE : H5T_IEEE_F32LE, space,
                       H5P_DEFAULT, props, H5P_DEFAULT);
  ASSERT_GE(d, 0);
  H5Dclose(d);
  H5Pclose(props);
  H5Sclose(space);
  H5Fclose(f);
}

Layout two_analyses() {
  Layout l;
  l.analyses = {{"resid", "activation_patching", {{"layer", 2, {}}, {"pos", 3, {}}}},
                {"heads/z", "ablation", {{"head", 4, {}}}}};
  l.prompt_ids = {"p0", "p1"};
  uint32_t id = 0;
  for (uint32_t p = 0; p < 2; ++p) {
    l.shards.push_back({id++, 0, p, 0, 6});
    l.shards.push_back({id++, 1, p, 0, 4});
  }
  return l;
}

std::vector<float> ones(const ShardInfo& s) { return std::vector<float>(s.cells(), 1.f); }

}  // namespace

TEST(HostileFragments, HugeClaimedExtentIsSkippedAsDamagedBeforeAnythingIsAllocated) {
  for (const std::string dataset :
       {"resid/values", "resid/shards", "heads_z/shards", "heads_z/values"}) {
    SCOPED_TRACE(dataset);
    const fs::path dir = fresh_dir("reader-" + dataset.substr(0, dataset.find('/')) + "-" +
                                   dataset.substr(dataset.find('/') + 1));
    const Layout l = two_analyses();
    Store store = Store::open_for_run(dir, {"name: test\n", "hash-a", l}, false);
    fs::path hostile;
    {
      FragmentWriter good(dir, l, "hash-a", {0, "good"});
      good.write(l.shards[0], ones(l.shards[0]));
      FragmentWriter bad(dir, l, "hash-a", {1, "bad"});
      for (uint32_t i = 1; i < 4; ++i) bad.write(l.shards[i], ones(l.shards[i]));
      hostile = bad.file();
    }
    claim_huge_extent(hostile, dataset);
    const StoreContents c = read_store(dir);  // bad_alloc before the fix
    EXPECT_EQ(c.shards_done, 1);  // none of the hostile file's shards, not even its sound group's
    ASSERT_EQ(c.unreadable.size(), 1u);
    EXPECT_EQ(c.unreadable[0], hostile);
    const DoneShards d = scan_done_shards(dir, l, "hash-a");
    EXPECT_EQ(d.count, 1);
    ASSERT_EQ(d.unreadable.size(), 1u);
  }
}

// The CLI end to end on a store `csweep run` made (synthetic executor): status and reduce
// warn and go on, a rerun moves the fragment to fragments/damaged/ and completes.
TEST(HostileFragments, StatusReduceAndRunWarnNameTheFileAndGoOn) {
  const std::string job =
      csweep::testing::source_path("tests/orchestrator/data/sweep.yaml").string();
  for (const std::string dataset : {"resid_pre/values", "head_z_by_pos/shards"}) {
    SCOPED_TRACE(dataset);
    const fs::path dir = fresh_dir("cli-" + dataset.substr(0, dataset.find('/')));
    const fs::path store = dir / "sweep.store";
    fs::create_directories(dir);
    ASSERT_EQ(run_command(csweep_bin() + " run " + job + " --store " + store.string() +
                          " --executor synthetic")
                  .status,
              0);
    fs::path fragment;
    for (const auto& e : fs::directory_iterator(store / "fragments"))
      if (e.path().extension() == ".h5") fragment = e.path();
    const fs::path hostile = store / "fragments" / "zz-hostile-1-0.h5";
    fs::copy_file(fragment, hostile);
    claim_huge_extent(hostile, dataset);

    for (const std::string& cmd :
         {"status " + store.string(), "reduce " + store.string() + " --no-html"}) {
      const auto o = run_command(csweep_bin() + " " + cmd);
      EXPECT_EQ(o.status, 0) << cmd << "\n" << o.output;
      EXPECT_NE(o.output.find(hostile.string() + ": /" + dataset + " claims 1099511627776"),
                std::string::npos)
          << cmd << "\n"
          << o.output;
      EXPECT_EQ(o.output.find("bad_alloc"), std::string::npos) << o.output;
    }
    const auto rerun = run_command(csweep_bin() + " run " + job + " --store " + store.string() +
                                   " --executor synthetic");
    EXPECT_EQ(rerun.status, 0) << rerun.output;
    EXPECT_NE(rerun.output.find(hostile.string()), std::string::npos) << rerun.output;
    EXPECT_FALSE(fs::exists(hostile));
    EXPECT_TRUE(fs::exists(store / "fragments" / "damaged" / hostile.filename()));
  }
}
