#pragma once
// A store is a directory (see docs/store-layout.md):
//   spec.yaml          the job file exactly as given
//   spec.hash          canonical hash of the job spec (jobs::canonical_hash), one line
//   layout.json        analyses, axes, prompt ids, shard table (store/layout.h)
//   provenance.json    versions, git SHA, model file hashes, and one entry per run
//   status.json        the coordinator's live progress (rewritten atomically while running);
//                      a --slice k/N run writes status-s<k>of<N>.json instead
//   slurm/             csweep submit's scripts, job records and logs (may exist first)
//   journal/           the coordinator's event journal, one JSON-lines file per run
//   errors.jsonl       shards that failed, with the worker's message
//   fragments/         one HDF5 file per writer process: <host>-<pid>-<n>.h5
//   fragments/damaged/ fragments a kill left unreadable, moved aside at the next run's start
//   stages/            a stage's chosen cells, one JSON file per stage (stage_selection.h)
//   lock               flock()ed by the coordinator of the run that owns the store: exclusively
//                      by a whole-sweep run, shared by --slice runs (array tasks run together)
//   lock.s<k>of<N>     flock()ed exclusively by the coordinator of slice k/N
//   provenance.lock    serialises the read-modify-write of provenance.json between slices
// The index of done shards lives inside each fragment (see fragment_writer.h): a shard is
// done exactly when a readable fragment holds a complete, checksummed copy of it.
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "store/layout.h"
#include "store/run_scope.h"

namespace csweep::store {

// File format version of fragments and layout.json; readers refuse newer ones.
constexpr int kStoreFormatVersion = 1;

struct StoreIdentity {
  std::string spec_yaml;  // the job file's text
  std::string spec_hash;  // jobs::canonical_hash
  Layout layout;
};

class Store {
 public:
  // For `csweep run` (coordinator only): creates the store, or opens an existing one made by
  // the same spec hash. A store made by another spec is refused (csweep::Error naming
  // DIR/spec.hash, both hashes and the way out: --force-new). force_new moves an existing
  // store aside to DIR.old-<timestamp> and starts a new one. Takes the store's lock (refused
  // while another run holds it) and moves unreadable fragments to fragments/damaged/.
  // A --slice run (slice.active()) shares the store with the other slices: it takes `lock`
  // shared and `lock.s<k>of<N>` exclusively, and refuses force_new (other array tasks may be
  // writing). A directory holding only csweep submit's slurm/ folder is adopted.
  static Store open_for_run(const std::filesystem::path& dir, const StoreIdentity& identity,
                            bool force_new, const Slice& slice = {});
  // Read-only view of an existing store (status, reduce). Takes no lock; throws when DIR is
  // not a store.
  static Store open_read_only(const std::filesystem::path& dir);

  Store(Store&&) noexcept;
  Store& operator=(Store&&) noexcept;
  ~Store();

  const std::filesystem::path& dir() const { return dir_; }
  std::filesystem::path fragments_dir() const { return dir_ / "fragments"; }
  const std::string& spec_hash() const { return spec_hash_; }
  const Layout& layout() const { return layout_; }
  std::string spec_yaml() const;
  bool created() const { return created_; }  // true when this open made a new store

  nlohmann::json provenance() const;                     // {} when absent
  void write_provenance(const nlohmann::json& p) const;  // atomic replace
  // Read-modify-write of provenance.json under an flock (slices of an array run at once).
  void update_provenance(const std::function<void(nlohmann::json&)>& edit) const;
  const Slice& slice() const { return slice_; }
  // status.json, or status-s<k>of<N>.json for a slice run.
  std::filesystem::path status_file() const;
  void write_status(const nlohmann::json& s) const;  // atomic replace of status.json
  nlohmann::json status() const;                     // status_file(); {} when absent or unreadable

 private:
  Store() = default;
  std::filesystem::path dir_;
  std::string spec_hash_;
  Layout layout_;
  bool created_ = false;
  int lock_fd_ = -1;
  int slice_lock_fd_ = -1;
  Slice slice_;
};

// Writes `text` to `path` atomically (temp file in the same folder, fsync, rename).
void write_file_atomic(const std::filesystem::path& path, const std::string& text);
std::string read_text_file(const std::filesystem::path& path);

}  // namespace csweep::store

namespace csweep::store {
// Moves fragments that cannot be opened to fragments/damaged/ (coordinator, under the lock,
// before any worker writes): their complete shards are lost and will be recomputed.
void quarantine_fragments(const Store& store, const std::vector<std::filesystem::path>& fragments);
}  // namespace csweep::store
