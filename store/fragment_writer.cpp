#include "store/fragment_writer.h"

#include <fcntl.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <limits>

#include "common/error.h"
#include "common/log.h"
#include "common/utc_time.h"
#include "store/hdf5_util.h"
#include "store/store.h"

namespace fs = std::filesystem;

namespace csweep::store {

namespace {
constexpr hsize_t kValuesChunk = 1024;
constexpr hsize_t kRowsChunk = 64;
}  // namespace

void disable_hdf5_file_locking() { ::setenv("HDF5_USE_FILE_LOCKING", "FALSE", /*overwrite=*/0); }

int64_t shard_checksum(const float* values, size_t n) {
  uint64_t h = 1469598103934665603ull;
  const auto* p = reinterpret_cast<const unsigned char*>(values);
  for (size_t i = 0; i < n * sizeof(float); ++i) {
    h ^= p[i];
    h *= 1099511628211ull;
  }
  h &= 0x7fffffffffffffffull;
  return h == 0 ? 1 : static_cast<int64_t>(h);
}

struct FragmentWriter::Impl {
  struct AnalysisDatasets {
    h5::Handle group, values, shards;
    hsize_t n_values = 0, n_rows = 0;
  };
  h5::Handle file;
  std::vector<AnalysisDatasets> analyses;
  std::vector<ShardInfo> shard_table;
};

FragmentWriter::FragmentWriter(const fs::path& store_dir, const Layout& layout,
                               const std::string& spec_hash, const WriterInfo& info)
    : impl_(std::make_unique<Impl>()) {
  disable_hdf5_file_locking();
  h5::silence_errors();
  std::string host = info.host;
  if (host.empty()) {
    char buf[256] = {0};
    ::gethostname(buf, sizeof buf - 1);
    host = buf;
  }
  const fs::path dir = store_dir / "fragments";
  fs::create_directories(dir);
  // A new file per process: [slice-][slurm-]<host>-<pid>-<n>.h5 with the first free n (pids
  // get reused). The slice prefix lets a slice's coordinator tell its own fragments apart.
  std::string prefix;
  if (info.slice.active()) prefix += info.slice.tag() + "-";
  if (!info.slurm.tag().empty()) prefix += info.slurm.tag() + "-";
  for (int n = 0;; ++n) {
    file_ = dir / (prefix + h5::safe_name(host) + "-" + std::to_string(::getpid()) + "-" +
                   std::to_string(n) + ".h5");
    if (fs::exists(file_)) continue;
    hid_t f = H5Fcreate(file_.c_str(), H5F_ACC_EXCL, H5P_DEFAULT, H5P_DEFAULT);
    if (f >= 0) {
      impl_->file = h5::file(f);
      break;
    }
    if (!fs::exists(file_)) throw error_at(file_.string(), "", "cannot create HDF5 fragment");
  }
  hid_t f = impl_->file;
  h5::write_int64s_attr(f, "format_version", {kStoreFormatVersion});
  h5::write_string_attr(f, "spec_hash", spec_hash);
  h5::write_string_attr(f, "host", host);
  h5::write_int64s_attr(f, "pid", {static_cast<int64_t>(::getpid())});
  h5::write_int64s_attr(f, "rank", {info.rank});
  h5::write_string_attr(f, "created", utc_now());
  if (info.slice.active()) h5::write_string_attr(f, "slice", info.slice.text());
  if (!info.slurm.job_id.empty()) h5::write_string_attr(f, "slurm_job_id", info.slurm.job_id);
  if (!info.slurm.array_job_id.empty())
    h5::write_string_attr(f, "slurm_array_job_id", info.slurm.array_job_id);
  if (!info.slurm.array_task_id.empty())
    h5::write_string_attr(f, "slurm_array_task_id", info.slurm.array_task_id);

  for (const auto& a : layout.analyses) {
    Impl::AnalysisDatasets d;
    d.group = h5::group(
        H5Gcreate2(f, h5::safe_name(a.name).c_str(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT));
    if (!d.group.valid()) throw error_at(file_.string(), a.name, "cannot create group");
    h5::write_string_attr(d.group, "kind", a.kind);
    std::vector<std::string> names;
    std::vector<int64_t> sizes;
    for (const auto& x : a.axes) {
      names.push_back(x.name);
      sizes.push_back(x.size);
    }
    h5::write_strings_attr(d.group, "axis_names", names);
    h5::write_int64s_attr(d.group, "axis_sizes", sizes);

    hsize_t zero = 0, unlimited = H5S_UNLIMITED, chunk = kValuesChunk;
    h5::Handle vspace = h5::space(H5Screate_simple(1, &zero, &unlimited));
    h5::Handle vprops = h5::plist(H5Pcreate(H5P_DATASET_CREATE));
    H5Pset_chunk(vprops, 1, &chunk);
    float nan = std::numeric_limits<float>::quiet_NaN();
    H5Pset_fill_value(vprops, H5T_NATIVE_FLOAT, &nan);
    d.values = h5::dataset(
        H5Dcreate2(d.group, "values", H5T_IEEE_F32LE, vspace, H5P_DEFAULT, vprops, H5P_DEFAULT));

    hsize_t rdims[2] = {0, kShardColumns}, rmax[2] = {H5S_UNLIMITED, kShardColumns},
            rchunk[2] = {kRowsChunk, kShardColumns};
    h5::Handle rspace = h5::space(H5Screate_simple(2, rdims, rmax));
    h5::Handle rprops = h5::plist(H5Pcreate(H5P_DATASET_CREATE));
    H5Pset_chunk(rprops, 2, rchunk);
    int64_t fill = 0;  // a row the kill left unwritten reads as zeros: magic 0, rejected
    H5Pset_fill_value(rprops, H5T_NATIVE_INT64, &fill);
    d.shards = h5::dataset(
        H5Dcreate2(d.group, "shards", H5T_STD_I64LE, rspace, H5P_DEFAULT, rprops, H5P_DEFAULT));
    if (!d.values.valid() || !d.shards.valid())
      throw error_at(file_.string(), a.name, "cannot create datasets");
    h5::write_strings_attr(
        d.shards, "columns",
        {"shard_id", "prompt", "cell_begin", "cell_end", "offset", "checksum", "magic"});
    impl_->analyses.push_back(std::move(d));
  }
  impl_->shard_table = layout.shards;
  if (H5Fflush(f, H5F_SCOPE_GLOBAL) < 0) throw error_at(file_.string(), "", "H5Fflush failed");
  log::get("store")->debug("fragment {} created", file_.string());
}

FragmentWriter::~FragmentWriter() {
  try {
    close();
  } catch (...) {}
}

void FragmentWriter::write(const ShardInfo& shard, const std::vector<float>& values) {
  if (!impl_->file.valid()) throw error_at(file_.string(), "", "fragment already closed");
  if (static_cast<int64_t>(values.size()) != shard.cells())
    throw error_at(file_.string(), "shard " + std::to_string(shard.id),
                   "got " + std::to_string(values.size()) + " values for " +
                       std::to_string(shard.cells()) + " cells");
  if (shard.analysis >= impl_->analyses.size())
    throw error_at(file_.string(), "shard " + std::to_string(shard.id),
                   "analysis index out of range");
  auto& d = impl_->analyses[shard.analysis];
  const std::string what = "shard " + std::to_string(shard.id);

  // 1. the values
  const hsize_t offset = d.n_values, count = values.size();
  hsize_t new_size = offset + count;
  if (H5Dset_extent(d.values, &new_size) < 0)
    throw error_at(file_.string(), what, "cannot extend values");
  {
    h5::Handle fspace = h5::space(H5Dget_space(d.values));
    H5Sselect_hyperslab(fspace, H5S_SELECT_SET, &offset, nullptr, &count, nullptr);
    h5::Handle mspace = h5::space(H5Screate_simple(1, &count, nullptr));
    if (H5Dwrite(d.values, H5T_NATIVE_FLOAT, mspace, fspace, H5P_DEFAULT, values.data()) < 0)
      throw error_at(file_.string(), what, "cannot write values");
  }
  d.n_values = new_size;

  // 2. the index row, after the values; it carries the checksum of exactly those values
  const int64_t row[kShardColumns] = {shard.id,
                                      shard.prompt,
                                      shard.cell_begin,
                                      shard.cell_end,
                                      static_cast<int64_t>(offset),
                                      shard_checksum(values.data(), values.size()),
                                      kShardRowMagic};
  hsize_t rdims[2] = {d.n_rows + 1, kShardColumns};
  if (H5Dset_extent(d.shards, rdims) < 0)
    throw error_at(file_.string(), what, "cannot extend shards");
  {
    h5::Handle fspace = h5::space(H5Dget_space(d.shards));
    hsize_t start[2] = {d.n_rows, 0}, cnt[2] = {1, kShardColumns};
    H5Sselect_hyperslab(fspace, H5S_SELECT_SET, start, nullptr, cnt, nullptr);
    h5::Handle mspace = h5::space(H5Screate_simple(2, cnt, nullptr));
    if (H5Dwrite(d.shards, H5T_NATIVE_INT64, mspace, fspace, H5P_DEFAULT, row) < 0)
      throw error_at(file_.string(), what, "cannot write index row");
  }
  d.n_rows += 1;

  // 3. durable against a kill of this process once H5Fflush returns
  if (H5Fflush(impl_->file, H5F_SCOPE_GLOBAL) < 0)
    throw error_at(file_.string(), what, "H5Fflush failed");
  ++shards_written_;
}

void FragmentWriter::close() {
  if (!impl_ || !impl_->file.valid()) return;
  H5Fflush(impl_->file, H5F_SCOPE_GLOBAL);
  impl_->analyses.clear();
  impl_->file.reset();
  // fsync so a finished run survives a node crash too (per-shard fsync would cost throughput).
  int fd = ::open(file_.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd >= 0) {
    ::fsync(fd);
    ::close(fd);
  }
}

}  // namespace csweep::store
