#pragma once
// One writer process's HDF5 fragment: fragments/[s<k>of<N>-][slurm<ids>-]<host>-<pid>-<n>.h5
// (the slice of a --slice run and the Slurm job / array task when set), plain serial HDF5
// (sec2 driver), a new file for every process start (a fragment is never reopened for
// writing, so a kill can only damage the file of the process that died).
//
// Layout (readable with h5py / h5dump):
//   /                      attrs: format_version, spec_hash, host, pid, rank, created, and when
//                          set: slice ("k/N"), slurm_job_id, slurm_array_job_id,
//                          slurm_array_task_id
//   /<analysis name>/      attrs: kind, axis_names, axis_sizes
//     values   float32 [n]      every shard's cells appended, in cell order
//     shards   int64   [m, 7]   one row per complete shard, appended AFTER its values:
//                               shard_id, prompt, cell_begin, cell_end, offset, checksum, magic
// A shard is durable when write() returns: values written, index row written, H5Fflush
// (global). A kill before the flush leaves either no row, a row whose magic/checksum does not
// match (fill value 0, half-written data) or an unreadable file; readers accept only rows
// with the magic and a matching checksum, so a shard is complete or absent, never partial.
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "store/layout.h"
#include "store/run_scope.h"

namespace csweep::store {

constexpr int64_t kShardRowMagic = 0x43535745455031;  // "CSWEEP1"
// Columns of a shard's index row: shard_id, prompt, cell_begin, cell_end, offset, checksum, magic.
constexpr int64_t kShardColumns = 7;
// Checksum of a shard's values (FNV-1a 64 over the float bytes, top bit cleared so it fits
// an int64 HDF5 column and is never 0).
int64_t shard_checksum(const float* values, size_t n);

struct WriterInfo {
  int rank = 0;
  std::string host;  // empty: gethostname()
  Slice slice;       // the run's --slice
  SlurmIds slurm;    // usually SlurmIds::from_env()
};

class FragmentWriter {
 public:
  // Creates a new fragment under store_dir/fragments.
  FragmentWriter(const std::filesystem::path& store_dir, const Layout& layout,
                 const std::string& spec_hash, const WriterInfo& info);
  ~FragmentWriter();
  FragmentWriter(const FragmentWriter&) = delete;
  FragmentWriter& operator=(const FragmentWriter&) = delete;

  // Appends one shard's values (shard.cells() floats) and makes it durable.
  void write(const ShardInfo& shard, const std::vector<float>& values);
  void close();  // idempotent; the destructor calls it
  const std::filesystem::path& file() const { return file_; }
  int64_t shards_written() const { return shards_written_; }

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  std::filesystem::path file_;
  int64_t shards_written_ = 0;
};

// HDF5 must never block a reader on a writer's lock (status runs beside a live sweep):
// sets HDF5_USE_FILE_LOCKING=FALSE for this process unless the user set it. Called by every
// store entry point before the first HDF5 call.
void disable_hdf5_file_locking();

}  // namespace csweep::store
