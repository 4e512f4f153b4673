#include "store/baselines.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <fstream>
#include <limits>
#include <sstream>

#include <nlohmann/json.hpp>

#include "common/error.h"
#include "common/log.h"

namespace fs = std::filesystem;

namespace csweep::store {
namespace {

constexpr const char* kFormat = "csweep.baselines/1";

std::string check_of(const std::string& text) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : text) {
    h ^= c;
    h *= 1099511628211ull;
  }
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(h));
  return buf;
}

nlohmann::json number_or_null(double x) {
  return std::isfinite(x) ? nlohmann::json(x) : nlohmann::json(nullptr);
}

double number_of(const nlohmann::json& j) {
  return j.is_number() ? j.get<double>() : std::numeric_limits<double>::quiet_NaN();
}

// Same bits, or both NaN: a re-run of the same (analysis, prompt) must reproduce it exactly.
bool same(double a, double b) {
  if (std::isnan(a) && std::isnan(b)) return true;
  return std::memcmp(&a, &b, sizeof a) == 0;
}

// The JSON of one complete, checked line; null for a torn or damaged one.
nlohmann::json parse_line(const std::string& line) {
  const size_t tab = line.rfind('\t');
  if (tab == std::string::npos) return nullptr;
  const std::string text = line.substr(0, tab);
  if (line.substr(tab + 1) != check_of(text)) return nullptr;
  auto j = nlohmann::json::parse(text, nullptr, false);
  return j.is_object() ? j : nlohmann::json(nullptr);
}

}  // namespace

BaselinesWriter::BaselinesWriter(const fs::path& store_dir, const std::string& name,
                                 const std::string& spec_hash, int rank) {
  const fs::path dir = store_dir / "baselines";
  fs::create_directories(dir);
  file_ = dir / (name + ".jsonl");
  fd_ = ::open(file_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC, 0644);
  if (fd_ < 0)
    throw error_at(file_.string(), "",
                   std::string("cannot create baselines file: ") + std::strerror(errno));
  char host[256] = {0};
  ::gethostname(host, sizeof host - 1);
  append(nlohmann::json{{"format", kFormat},
                        {"spec_hash", spec_hash},
                        {"rank", rank},
                        {"host", std::string(host)},
                        {"pid", static_cast<int64_t>(::getpid())}}
             .dump());
}

BaselinesWriter::~BaselinesWriter() { close(); }

bool BaselinesWriter::has(uint32_t analysis, uint32_t prompt) const {
  return recorded_.count({analysis, prompt}) > 0;
}

void BaselinesWriter::record(const Layout& layout, uint32_t analysis, uint32_t prompt,
                             const Baseline& b) {
  if (has(analysis, prompt)) return;
  if (analysis >= layout.analyses.size() || prompt >= layout.prompt_ids.size())
    throw error_at(file_.string(),
                   "analysis " + std::to_string(analysis) + ", prompt " + std::to_string(prompt),
                   "out of the layout's range");
  append(nlohmann::json{{"analysis", layout.analyses[analysis].name},
                        {"a", analysis},
                        {"prompt", layout.prompt_ids[prompt]},
                        {"p", prompt},
                        {"clean", number_or_null(b.clean)},
                        {"corrupted", number_or_null(b.corrupted)}}
             .dump());
  recorded_.insert({analysis, prompt});
}

// One write() per line (looped only if the kernel takes less): what is in the page cache
// survives a kill of this process, so no fsync per line.
void BaselinesWriter::append(const std::string& json) {
  if (fd_ < 0) throw error_at(file_.string(), "", "baselines file already closed");
  const std::string line = json + "\t" + check_of(json) + "\n";
  size_t done = 0;
  while (done < line.size()) {
    const ssize_t n = ::write(fd_, line.data() + done, line.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0)
      throw error_at(file_.string(), "", std::string("cannot append: ") + std::strerror(errno));
    done += static_cast<size_t>(n);
  }
}

void BaselinesWriter::close() {
  if (fd_ < 0) return;
  ::fsync(fd_);  // a finished run survives a node crash too, as the fragments do
  ::close(fd_);
  fd_ = -1;
}

RecordedBaselines read_baselines(const fs::path& store_dir, const Layout& layout,
                                 const std::string& spec_hash) {
  RecordedBaselines r;
  const size_t n_prompts = layout.prompt_ids.size();
  r.values.assign(layout.analyses.size(), std::vector<Baseline>(n_prompts));
  r.known.assign(layout.analyses.size(), std::vector<uint8_t>(n_prompts, 0));
  std::vector<std::vector<std::string>> first(layout.analyses.size(),
                                              std::vector<std::string>(n_prompts));

  std::vector<fs::path> files;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(store_dir / "baselines", ec))
    if (e.is_regular_file() && e.path().extension() == ".jsonl") files.push_back(e.path());
  std::sort(files.begin(), files.end());

  auto log = log::get("store");
  for (const auto& file : files) {
    std::ifstream in(file, std::ios::binary);
    std::stringstream buf;
    buf << in.rdbuf();
    const std::string all = buf.str();
    // Complete lines only: whatever follows the last newline is a write cut short by a kill.
    std::vector<std::string> lines;
    size_t start = 0;
    for (size_t nl; (nl = all.find('\n', start)) != std::string::npos; start = nl + 1)
      lines.push_back(all.substr(start, nl - start));
    const nlohmann::json header = lines.empty() ? nlohmann::json(nullptr) : parse_line(lines[0]);
    if (!header.is_object() || header.value("format", "") != kFormat ||
        header.value("spec_hash", "") != spec_hash) {
      log->warn("{}: not a baselines file of this store's spec; ignored", file.string());
      r.ignored.push_back(file);
      continue;
    }
    r.files.push_back(file);
    for (size_t i = 1; i < lines.size(); ++i) {
      const nlohmann::json j = parse_line(lines[i]);
      if (!j.is_object()) continue;
      const auto& a = j.contains("a") ? j["a"] : nlohmann::json();
      const auto& p = j.contains("p") ? j["p"] : nlohmann::json();
      if (!a.is_number_unsigned() || !p.is_number_unsigned()) continue;
      const uint64_t ai = a.get<uint64_t>(), pi = p.get<uint64_t>();
      if (ai >= layout.analyses.size() || pi >= n_prompts) continue;
      if (j.value("analysis", "") != layout.analyses[ai].name ||
          j.value("prompt", "") != layout.prompt_ids[pi])
        continue;
      const Baseline b{number_of(j.value("clean", nlohmann::json())),
                       number_of(j.value("corrupted", nlohmann::json()))};
      if (!r.known[ai][pi]) {
        r.values[ai][pi] = b;
        r.known[ai][pi] = 1;
        first[ai][pi] = file.filename().string();
      } else if (!same(r.values[ai][pi].clean, b.clean) ||
                 !same(r.values[ai][pi].corrupted, b.corrupted)) {
        r.conflicts.push_back(file.string() + ": " + layout.analyses[ai].name + "/" +
                              layout.prompt_ids[pi] + ": differs from the copy in " +
                              first[ai][pi]);
      }
    }
  }
  return r;
}

}  // namespace csweep::store
