#pragma once
// The metric of the unedited clean and corrupted runs per (analysis, prompt): what reduce
// needs for the fraction recovered, (patched - corrupted) / (clean - corrupted).
//
// Each writer process appends to its own file, STORE/baselines/<fragment stem>.jsonl, one
// line per (analysis, prompt) it ran first:
//   {"format":"csweep.baselines/1","spec_hash":...,"rank":...,"host":...,"pid":...}\t<check>\n
//   {"analysis":NAME,"a":INDEX,"prompt":ID,"p":INDEX,"clean":X,"corrupted":Y}\t<check>\n
// <check> is FNV-1a 64 of the JSON text in hex. Each line goes out in one append before the
// worker writes the shard that needed it, so a shard that is done in a fragment always has its
// baselines on disk: a kill can only cut the last line short, and readers drop a line without
// its newline or with a wrong check. Numbers are printed to round-trip exactly; NaN is null.
// Plain text rather than HDF5 so that a kill can never make earlier lines unreadable.
#include <cstdint>
#include <filesystem>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "store/layout.h"

namespace csweep::store {

struct Baseline {
  double clean = 0.0;
  double corrupted = 0.0;
};

class BaselinesWriter {
 public:
  // Creates STORE/baselines/<name>.jsonl (refuses an existing file) and writes its header.
  BaselinesWriter(const std::filesystem::path& store_dir, const std::string& name,
                  const std::string& spec_hash, int rank);
  ~BaselinesWriter();
  BaselinesWriter(const BaselinesWriter&) = delete;
  BaselinesWriter& operator=(const BaselinesWriter&) = delete;

  // True when this writer already recorded (analysis, prompt).
  bool has(uint32_t analysis, uint32_t prompt) const;
  // Appends one line unless has(); durable against a kill of this process once it returns.
  void record(const Layout& layout, uint32_t analysis, uint32_t prompt, const Baseline& b);
  void close();  // fsyncs; idempotent; the destructor calls it
  const std::filesystem::path& file() const { return file_; }

 private:
  void append(const std::string& json);
  std::filesystem::path file_;
  int fd_ = -1;
  std::set<std::pair<uint32_t, uint32_t>> recorded_;
};

struct RecordedBaselines {
  // [analysis][prompt] in layout order; `known` is 0 where no file holds that pair.
  std::vector<std::vector<Baseline>> values;
  std::vector<std::vector<uint8_t>> known;
  std::vector<std::string> conflicts;          // "FILE: ANALYSIS/PROMPT: differs from FIRST"
  std::vector<std::filesystem::path> files;    // read
  std::vector<std::filesystem::path> ignored;  // no valid header, or another spec's
};

// Reads every STORE/baselines/*.jsonl (name order; the first copy of a pair wins, later
// copies are compared bit for bit). Never modifies anything; never throws for a damaged file.
RecordedBaselines read_baselines(const std::filesystem::path& store_dir, const Layout& layout,
                                 const std::string& spec_hash);

}  // namespace csweep::store
