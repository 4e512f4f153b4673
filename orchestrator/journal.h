#pragma once
// The coordinator's journal: STORE/journal/<start time>-<pid>.jsonl, one JSON object per
// event ({"t": seconds since start, "ev": "start|assign|done|failed|lost|reissue|signal|stop|end",
// "shard", "rank", ...}). Advisory (the fragments are the truth): buffered and flushed about
// once a second and at the end, so it costs the scheduling loop nothing.
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>

#include <nlohmann/json.hpp>

namespace csweep::orchestrator {

class Journal {
 public:
  explicit Journal(const std::filesystem::path& store_dir);
  ~Journal();
  Journal(const Journal&) = delete;
  Journal& operator=(const Journal&) = delete;

  void event(const char* ev, int64_t shard = -1, int rank = -1, nlohmann::json extra = nullptr);
  void flush();
  const std::filesystem::path& file() const { return file_; }

 private:
  std::filesystem::path file_;
  std::FILE* out_ = nullptr;
  std::chrono::steady_clock::time_point start_, last_flush_;
};

}  // namespace csweep::orchestrator
