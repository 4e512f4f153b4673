// libFuzzer: HDF5 fragments a hostile or damaged writer could leave, read by read_store (what
// `csweep status`, `reduce` and `validate` do) and scan_done_shards (what a resumed run does).
// The fuzzed bytes are not the file itself — libhdf5 does not survive arbitrary bytes
// (docs/testing.md) — but a program of edits applied to a real, complete fragment written by
// FragmentWriter: attributes rewritten with other values or types, datasets recreated with
// other shapes (up to 2^40 rows, declared and never written), types or ranks, index rows
// rewritten (ids, offsets, checksums; with the right magic so they get past the first check),
// objects deleted. The empty input is the complete fragment itself.
#include <fuzzer/FuzzedDataProvider.h>
#include <hdf5.h>

#include "fuzz/fuzz_input.h"
#include "store/fragment_writer.h"
#include "store/reader.h"
#include "store/store.h"
#include "tests/store/small_layout.h"

namespace {

namespace fs = std::filesystem;
using namespace csweep::store;

constexpr const char* kHash = "hash-a";

const Layout& layout() {
  static const Layout l = csweep::testing::small_layout();
  return l;
}

const fs::path& store_dir() {
  static const fs::path dir = [] {
    fs::path d = csweep::fuzz::scratch_dir() / "store";
    fs::remove_all(d);
    Store::open_for_run(d, {"name: fuzz\n", kHash, layout()},
                        false);  // the lock is released at once
    return d;
  }();
  return dir;
}

fs::path write_complete_fragment() {
  FragmentWriter w(store_dir(), layout(), kHash, {0, "fuzz", {}, {}});
  for (const auto& s : layout().shards) {
    std::vector<float> v;
    for (int64_t c = s.cell_begin; c < s.cell_end; ++c) v.push_back(10.f * s.prompt + c + 0.25f);
    w.write(s, v);
  }
  return w.file();
}

const char* const kAttrs[] = {"spec_hash", "host",           "created", "pid",
                              "rank",      "format_version", "slice"};
const char* const kGroups[] = {"resid", "heads_z", "heads", "nope"};
const char* const kDatasets[] = {"shards", "values"};

void write_attr(hid_t obj, const char* name, FuzzedDataProvider& in) {
  if (H5Aexists(obj, name) > 0) H5Adelete(obj, name);
  const bool as_string = in.ConsumeBool();
  hsize_t n = in.ConsumeIntegralInRange<hsize_t>(1, 3);
  hid_t space = H5Screate_simple(1, &n, nullptr);
  if (as_string) {
    hid_t type = H5Tcopy(H5T_C_S1);
    H5Tset_size(type, H5T_VARIABLE);
    std::vector<std::string> values;
    std::vector<const char*> ptrs;
    for (hsize_t i = 0; i < n; ++i) values.push_back(in.ConsumeRandomLengthString(64));
    for (auto& v : values) ptrs.push_back(v.c_str());
    hid_t a = H5Acreate2(obj, name, type, space, H5P_DEFAULT, H5P_DEFAULT);
    if (a >= 0) H5Awrite(a, type, ptrs.data()), H5Aclose(a);
    H5Tclose(type);
  } else {
    std::vector<int64_t> values;
    for (hsize_t i = 0; i < n; ++i) values.push_back(in.ConsumeIntegral<int64_t>());
    hid_t a = H5Acreate2(obj, name, H5T_STD_I64LE, space, H5P_DEFAULT, H5P_DEFAULT);
    if (a >= 0) H5Awrite(a, H5T_NATIVE_INT64, values.data()), H5Aclose(a);
  }
  H5Sclose(space);
}

// Replaces GROUP/NAME by a chunked dataset of fuzzed rank, extent and type, nothing written.
void recreate_dataset(hid_t group, const char* name, FuzzedDataProvider& in) {
  if (H5Lexists(group, name, H5P_DEFAULT) > 0) H5Ldelete(group, name, H5P_DEFAULT);
  const int rank = in.ConsumeIntegralInRange<int>(1, 3);
  hsize_t dims[3], maxdims[3], chunk[3];
  for (int i = 0; i < rank; ++i) {
    dims[i] = in.ConsumeIntegralInRange<hsize_t>(0, hsize_t{1} << 40);
    maxdims[i] = H5S_UNLIMITED;
    chunk[i] = 16;
  }
  const hid_t types[] = {H5T_STD_I64LE, H5T_IEEE_F32LE, H5T_IEEE_F64LE, H5T_STD_I8LE};
  hid_t space = H5Screate_simple(rank, dims, maxdims);
  hid_t props = H5Pcreate(H5P_DATASET_CREATE);
  H5Pset_chunk(props, rank, chunk);
  hid_t d = H5Dcreate2(group, name, types[in.ConsumeIntegralInRange<int>(0, 3)], space, H5P_DEFAULT,
                       props, H5P_DEFAULT);
  if (d >= 0) H5Dclose(d);
  H5Pclose(props);
  H5Sclose(space);
}

// Overwrites one index row of GROUP/shards with fuzzed columns (the magic kept).
void rewrite_row(hid_t group, FuzzedDataProvider& in) {
  hid_t d = H5Dopen2(group, "shards", H5P_DEFAULT);
  if (d < 0) return;
  hid_t space = H5Dget_space(d);
  hsize_t dims[2] = {0, 0};
  if (H5Sget_simple_extent_ndims(space) == 2 &&
      H5Sget_simple_extent_dims(space, dims, nullptr) == 2 && dims[0] > 0 && dims[1] == 7) {
    hsize_t start[2] = {in.ConsumeIntegralInRange<hsize_t>(0, dims[0] - 1), 0}, count[2] = {1, 7};
    int64_t row[7];
    for (int i = 0; i < 6; ++i)
      row[i] = in.ConsumeBool() ? in.ConsumeIntegral<int64_t>()
                                : in.ConsumeIntegralInRange<int64_t>(-2, 9);
    row[6] = kShardRowMagic;
    H5Sselect_hyperslab(space, H5S_SELECT_SET, start, nullptr, count, nullptr);
    hid_t mem = H5Screate_simple(2, count, nullptr);
    H5Dwrite(d, H5T_NATIVE_INT64, mem, space, H5P_DEFAULT, row);
    H5Sclose(mem);
  }
  H5Sclose(space);
  H5Dclose(d);
}

void apply_edits(const fs::path& file, FuzzedDataProvider& in) {
  hid_t f = H5Fopen(file.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
  if (f < 0) return;
  while (in.remaining_bytes() > 0) {
    const char* gname = kGroups[in.ConsumeIntegralInRange<int>(0, 3)];
    hid_t g = H5Lexists(f, gname, H5P_DEFAULT) > 0 ? H5Oopen(f, gname, H5P_DEFAULT) : -1;
    switch (in.ConsumeIntegralInRange<int>(0, 5)) {
      case 0:
        write_attr(f, kAttrs[in.ConsumeIntegralInRange<int>(0, 6)], in);
        break;
      case 1:
        if (g >= 0) write_attr(g, in.PickValueInArray({"kind", "axis_names", "axis_sizes"}), in);
        break;
      case 2:
        if (g >= 0) recreate_dataset(g, kDatasets[in.ConsumeIntegralInRange<int>(0, 1)], in);
        break;
      case 3:
        if (g >= 0) rewrite_row(g, in);
        break;
      case 4:
        if (g >= 0) H5Ldelete(g, kDatasets[in.ConsumeIntegralInRange<int>(0, 1)], H5P_DEFAULT);
        break;
      case 5:
        H5Ldelete(f, gname, H5P_DEFAULT);
        break;
    }
    if (g >= 0) H5Oclose(g);
  }
  H5Fclose(f);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);  // the edits' refusals are expected
  const fs::path file = write_complete_fragment();
  FuzzedDataProvider in(data, size);
  apply_edits(file, in);
  csweep::fuzz::expect_clean([&] {
    read_store(store_dir());
    scan_done_shards(store_dir(), layout(), kHash);
  });
  fs::remove(file);
  return 0;
}
