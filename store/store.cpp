#include "store/store.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <sstream>

#include "common/error.h"
#include "common/log.h"
#include "common/utc_time.h"

namespace fs = std::filesystem;

namespace csweep::store {

namespace {

std::string trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) s.pop_back();
  return s;
}

// A store directory is complete once spec.hash exists: it is written last at creation.
bool is_store(const fs::path& dir) {
  return fs::exists(dir / "spec.hash") && fs::exists(dir / "layout.json");
}

void create_store_files(const fs::path& dir, const StoreIdentity& id) {
  fs::create_directories(dir / "fragments");
  fs::create_directories(dir / "journal");
  write_file_atomic(dir / "spec.yaml", id.spec_yaml);
  write_file_atomic(dir / "layout.json", id.layout.to_json().dump() + "\n");
  write_file_atomic(dir / "spec.hash", id.spec_hash + "\n");
}

std::string hostname() {
  char host[256] = {0};
  ::gethostname(host, sizeof host - 1);
  return host;
}

// `exclusive` false: a shared lock, held by every slice run at once (the holder line is then
// not written: the slice's own lock file carries it).
int take_lock(const fs::path& lock, bool exclusive, const std::string& refusal) {
  int fd = ::open(lock.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0)
    throw error_at(lock.string(), "", std::string("cannot open: ") + std::strerror(errno));
  if (::flock(fd, (exclusive ? LOCK_EX : LOCK_SH) | LOCK_NB) != 0) {
    std::string holder = trim(read_text_file(lock));
    ::close(fd);
    throw error_at(lock.string(), "",
                   refusal + (holder.empty() ? std::string() : " (" + holder + ")"));
  }
  if (exclusive) {
    std::string who = "host " + hostname() + " pid " + std::to_string(::getpid()) + "\n";
    if (::ftruncate(fd, 0) == 0 &&
        ::write(fd, who.data(), who.size()) < 0) { /* informational only */
    }
  }
  return fd;
}

// What may already be in a directory that is not a store yet: an interrupted creation's
// files, locks, csweep submit's slurm/ folder, and a concurrent slice's temp files.
bool tolerated_before_creation(const std::string& n) {
  for (const char* exact :
       {"spec.yaml", "layout.json", "spec.hash", "fragments", "journal", "lock", "slurm"})
    if (n == exact) return true;
  for (const char* prefix : {"spec.yaml.tmp", "layout.json.tmp", "spec.hash.tmp", "lock.s"})
    if (n.rfind(prefix, 0) == 0) return true;
  return false;
}

}  // namespace

std::string read_text_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return {};
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void write_file_atomic(const fs::path& path, const std::string& text) {
  // host + pid: slices on different nodes may write the same file at once.
  const fs::path tmp = path.string() + ".tmp." + hostname() + "." + std::to_string(::getpid());
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0)
    throw error_at(tmp.string(), "", std::string("cannot create: ") + std::strerror(errno));
  const char* p = text.data();
  size_t left = text.size();
  while (left > 0) {
    ssize_t n = ::write(fd, p, left);
    if (n < 0) {
      if (errno == EINTR) continue;
      int e = errno;
      ::close(fd);
      throw error_at(tmp.string(), "", std::string("write failed: ") + std::strerror(e));
    }
    p += n;
    left -= static_cast<size_t>(n);
  }
  ::fsync(fd);
  ::close(fd);
  if (::rename(tmp.c_str(), path.c_str()) != 0)
    throw error_at(path.string(), "",
                   std::string("cannot rename into place: ") + std::strerror(errno));
}

Store Store::open_for_run(const fs::path& dir, const StoreIdentity& identity, bool force_new,
                          const Slice& slice) {
  auto log = log::get("store");
  Store s;
  s.dir_ = dir;
  s.slice_ = slice;
  if (force_new && slice.active())
    throw error_at("--force-new", "",
                   "cannot be combined with --slice (the other array tasks share the store); "
                   "remove or move the store first, or run without --slice");
  const bool only_slurm = fs::is_directory(dir) && fs::exists(dir / "slurm") && !is_store(dir);
  if (fs::exists(dir) && force_new && !fs::is_empty(dir) && !only_slurm) {
    const std::string stamp = dir.string() + ".old-" + utc_now("%Y%m%d-%H%M%S");
    fs::path aside = stamp;
    for (int i = 1; fs::exists(aside); ++i) aside = stamp + "-" + std::to_string(i);
    fs::rename(dir, aside);
    log->warn("--force-new: moved the existing store {} aside to {}", dir.string(), aside.string());
  }
  if (fs::exists(dir) && !fs::is_directory(dir))
    throw error_at(dir.string(), "", "exists and is not a directory");
  if (fs::exists(dir) && is_store(dir)) {
    const std::string stored = trim(read_text_file(dir / "spec.hash"));
    if (stored != identity.spec_hash)
      throw error_at((dir / "spec.hash").string(), "spec hash",
                     "this store was made by a different job spec (store " + stored.substr(0, 16) +
                         "…, job " + identity.spec_hash.substr(0, 16) +
                         "…); use another --store, or --force-new to move it aside and start over");
    Layout stored_layout = Layout::from_json(
        nlohmann::json::parse(read_text_file(dir / "layout.json"), nullptr, false),
        (dir / "layout.json").string());
    if (!(stored_layout == identity.layout))
      throw error_at(
          (dir / "layout.json").string(), "shards",
          "same spec hash but a different shard table (a csweep version change?); use --force-new");
    s.created_ = false;
  } else {
    if (fs::exists(dir)) {
      // Tolerate only what an interrupted creation leaves behind; never adopt a foreign folder.
      for (const auto& e : fs::directory_iterator(dir)) {
        const std::string n = e.path().filename().string();
        if (!tolerated_before_creation(n))
          throw error_at(
              dir.string(), "",
              "is not empty and not a csweep store (found " + n + "); use another --store");
      }
    }
    fs::create_directories(dir);
    s.created_ = true;
  }
  if (slice.active()) {
    s.lock_fd_ =
        take_lock(dir / "lock", false, "a whole-sweep csweep run (no --slice) is using this store");
    try {
      s.slice_lock_fd_ =
          take_lock(dir / ("lock." + slice.tag()), true,
                    "another csweep run of slice " + slice.text() + " is using this store");
    } catch (...) {
      ::close(s.lock_fd_);
      s.lock_fd_ = -1;
      throw;
    }
  } else {
    s.lock_fd_ = take_lock(dir / "lock", true,
                           "another csweep run is using this store (or --slice runs of it)");
  }
  // Slices starting together may both create: every file is written atomically with the same
  // content, and spec.hash (which makes it a store) last.
  if (s.created_ && !is_store(dir))
    create_store_files(dir, identity);
  else if (s.created_)
    s.created_ = false;
  fs::create_directories(dir / "fragments");
  fs::create_directories(dir / "journal");
  s.spec_hash_ = identity.spec_hash;
  s.layout_ = identity.layout;
  return s;
}

Store Store::open_read_only(const fs::path& dir) {
  if (!fs::is_directory(dir)) throw error_at(dir.string(), "", "no such store directory");
  if (!is_store(dir))
    throw error_at(dir.string(), "", "not a csweep store (no spec.hash / layout.json)");
  Store s;
  s.dir_ = dir;
  s.spec_hash_ = trim(read_text_file(dir / "spec.hash"));
  auto j = nlohmann::json::parse(read_text_file(dir / "layout.json"), nullptr, false);
  if (j.is_discarded()) throw error_at((dir / "layout.json").string(), "", "not valid JSON");
  s.layout_ = Layout::from_json(j, (dir / "layout.json").string());
  return s;
}

Store::Store(Store&& o) noexcept { *this = std::move(o); }

Store& Store::operator=(Store&& o) noexcept {
  if (this != &o) {
    if (lock_fd_ >= 0) ::close(lock_fd_);
    dir_ = std::move(o.dir_);
    spec_hash_ = std::move(o.spec_hash_);
    layout_ = std::move(o.layout_);
    created_ = o.created_;
    lock_fd_ = o.lock_fd_;
    o.lock_fd_ = -1;
    if (slice_lock_fd_ >= 0) ::close(slice_lock_fd_);
    slice_lock_fd_ = o.slice_lock_fd_;
    o.slice_lock_fd_ = -1;
    slice_ = o.slice_;
  }
  return *this;
}

Store::~Store() {
  if (slice_lock_fd_ >= 0) ::close(slice_lock_fd_);
  if (lock_fd_ >= 0) ::close(lock_fd_);
}

std::string Store::spec_yaml() const { return read_text_file(dir_ / "spec.yaml"); }

nlohmann::json Store::provenance() const {
  auto j = nlohmann::json::parse(read_text_file(dir_ / "provenance.json"), nullptr, false);
  return j.is_discarded() ? nlohmann::json::object() : j;
}

void Store::write_provenance(const nlohmann::json& p) const {
  write_file_atomic(dir_ / "provenance.json", p.dump(2) + "\n");
}

void Store::update_provenance(const std::function<void(nlohmann::json&)>& edit) const {
  const fs::path lock = dir_ / "provenance.lock";
  int fd = ::open(lock.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0)
    throw error_at(lock.string(), "", std::string("cannot open: ") + std::strerror(errno));
  while (::flock(fd, LOCK_EX) != 0 && errno == EINTR) {}
  try {
    nlohmann::json p = provenance();
    edit(p);
    write_provenance(p);
  } catch (...) {
    ::close(fd);
    throw;
  }
  ::close(fd);
}

fs::path Store::status_file() const {
  return dir_ / (slice_.active() ? "status-" + slice_.tag() + ".json" : std::string("status.json"));
}

void Store::write_status(const nlohmann::json& s) const {
  write_file_atomic(status_file(), s.dump(2) + "\n");
}

nlohmann::json Store::status() const {
  auto j = nlohmann::json::parse(read_text_file(status_file()), nullptr, false);
  return j.is_discarded() ? nlohmann::json::object() : j;
}

void quarantine_fragments(const Store& store, const std::vector<fs::path>& fragments) {
  if (fragments.empty()) return;
  const fs::path damaged = store.fragments_dir() / "damaged";
  fs::create_directories(damaged);
  for (const auto& f : fragments) {
    std::error_code ec;
    fs::rename(f, damaged / f.filename(), ec);
    log::get("store")->warn("{}: unreadable (a writer was killed mid-flush?); moved to {}",
                            f.string(), (damaged / f.filename()).string());
  }
}

}  // namespace csweep::store
