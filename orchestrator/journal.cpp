#include "orchestrator/journal.h"

#include <unistd.h>

#include "common/error.h"
#include "common/utc_time.h"

namespace csweep::orchestrator {

Journal::Journal(const std::filesystem::path& store_dir) {
  std::filesystem::create_directories(store_dir / "journal");
  file_ = store_dir / "journal" /
          (utc_now("%Y%m%dT%H%M%S") + "-" + std::to_string(::getpid()) + ".jsonl");
  out_ = std::fopen(file_.c_str(), "a");
  if (!out_) throw error_at(file_.string(), "", "cannot open the journal for appending");
  start_ = last_flush_ = std::chrono::steady_clock::now();
}

Journal::~Journal() {
  if (out_) {
    flush();
    std::fclose(out_);
  }
}

void Journal::event(const char* ev, int64_t shard, int rank, nlohmann::json extra) {
  const auto now = std::chrono::steady_clock::now();
  nlohmann::json j = extra.is_object() ? std::move(extra) : nlohmann::json::object();
  j["t"] = std::chrono::duration<double>(now - start_).count();
  j["ev"] = ev;
  if (shard >= 0) j["shard"] = shard;
  if (rank >= 0) j["rank"] = rank;
  const std::string line = j.dump() + "\n";
  std::fwrite(line.data(), 1, line.size(), out_);
  if (now - last_flush_ > std::chrono::seconds(1)) flush();
}

void Journal::flush() {
  std::fflush(out_);
  last_flush_ = std::chrono::steady_clock::now();
}

}  // namespace csweep::orchestrator
