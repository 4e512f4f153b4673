#pragma once
// What a kind's YAML reader reads with: typed fields of one `analyses[i]` map, each reported
// as "file:line:column: analyses[i].key: reason" and remembered as a failed read.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <yaml-cpp/yaml.h>

#include "jobs/diagnostics.h"
#include "jobs/job_spec.h"
#include "model/config.h"

namespace csweep::jobs {

struct AnalysesContext {
  Source src;
  const model::ModelConfig* config = nullptr;  // null: skip range checks
  const std::vector<PromptPair>* prompts = nullptr;
  Metric metric = Metric::LogitDiff;
  uint64_t default_seed = 0;
};

class KindReader {
 public:
  KindReader(const AnalysesContext& ctx, const YAML::Node& node, std::string path)
      : ctx_(ctx), node_(node), path_(std::move(path)) {}

  const AnalysesContext& context() const { return ctx_; }
  const model::ModelConfig* config() const { return ctx_.config; }
  const YAML::Node& node() const { return node_; }
  const std::string& path() const { return path_; }
  bool has(const char* key) const { return static_cast<bool>(node_[key]); }
  bool ok() const { return ok_; }
  // A read that reported its own problem (through yaml_fields, or a nested map's KindReader)
  // fails this reader too when `read_ok` is false.
  void record(bool read_ok) { ok_ = ok_ && read_ok; }
  // Reports "path.key: reason" at the key's value (at the map when the key is absent).
  void error(const char* key, const std::string& reason);
  // Reports "path: reason" at the key's value (a problem of the whole analysis).
  void fail(const char* at_key, const std::string& reason);
  // Reports `key` as not taken with this choice of another key, when it is given.
  void reject(const char* key, const std::string& why);
  // `taken`, after rejecting `key` (with `why`) when it is not: a reader writes
  // if (r.only_if(o->target == "heads", "heads", "only target heads has a head axis")) ...
  bool only_if(bool taken, const char* key, const std::string& why) {
    if (!taken) reject(key, why);
    return taken;
  }

  std::string choice(const char* key, const std::vector<std::string>& choices,
                     const std::string& fallback);
  std::vector<std::string> choices(const char* key, const std::vector<std::string>& choices,
                                   const std::vector<std::string>& fallback);
  bool flag(const char* key, bool fallback);
  int64_t integer(const char* key, int64_t fallback, int64_t minimum);
  double positive(const char* key, double fallback);
  int64_t seed(const char* key);  // the job's seed unless given
  // Index axes (absent or "all": every index) with the model's or the prompts' limits.
  std::vector<int64_t> layers();
  std::vector<int64_t> heads(int64_t limit);  // limit: n_heads, or n_kv_heads for k/v sites
  std::vector<int64_t> n_heads_axis() { return heads(config() ? config()->n_heads : -1); }
  std::vector<int64_t> positions();  // over the shortest prompt
  std::vector<int64_t> neurons();    // over d_mlp
  // `sites`: block hook points, all with the same axes (activation/attribution patching), by
  // block-relative name ("attn.hook_z") or full TransformerLens name ("blocks.3.attn.hook_z").
  // With `outside_blocks`, also hook_embed, hook_pos_embed and ln_final.* (activation patching).
  std::vector<model::HookPoint> sites(bool outside_blocks = false);
  // The layers full names named (sorted, unique); empty when every name was block-relative.
  const std::vector<int64_t>& site_layers() const { return site_layers_; }

 private:
  std::vector<int64_t> axis(const char* key, int64_t limit, const std::string& what,
                            const std::string& limit_text);
  template <typename T>
  T or_fail(std::optional<T> v, T fallback) {
    if (v) return *v;
    ok_ = false;
    return fallback;
  }

  const AnalysesContext& ctx_;
  const YAML::Node& node_;
  std::string path_;
  bool ok_ = true;
  std::vector<int64_t> site_layers_;
};

}  // namespace csweep::jobs
