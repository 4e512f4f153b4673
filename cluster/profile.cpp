#include "cluster/profile.h"

#include <algorithm>
#include <fstream>
#include <regex>
#include <sstream>

#include <yaml-cpp/yaml.h>

#include "common/edit_distance.h"
#include "common/error.h"

namespace csweep::cluster {
namespace {

const std::vector<std::string> kKeys = {
    "partition",     "account",        "qos",          "nodes",         "tasks_per_node",
    "gpus_per_node", "gpu_request",    "gpu_type",     "cpus_per_task", "mem",
    "time",          "signal_seconds", "max_requeues", "modules",       "env",
    "launcher",      "launcher_args",  "extra_sbatch", "store_root"};

std::string did_you_mean(const std::string& key) {
  std::string best;
  size_t best_distance = 4;  // further than 3 edits is not a typo
  for (const auto& candidate : kKeys) {
    size_t d = edit_distance(key, candidate);
    if (d < best_distance) best_distance = d, best = candidate;
  }
  return best.empty() ? "" : " (did you mean '" + best + "'?)";
}

// Collects every problem of one file so the user fixes them in one go.
class Checker {
 public:
  explicit Checker(std::string file) : file_(std::move(file)) {}

  void fail(const YAML::Node& node, const std::string& reason) {
    const YAML::Mark mark = node.Mark();
    errors_.push_back(file_ + ":" + std::to_string(mark.line + 1) + ":" +
                      std::to_string(mark.column + 1) + ": " + reason);
  }

  std::string scalar(const YAML::Node& node, const std::string& key) {
    if (!node.IsScalar()) {
      fail(node, key + ": expected a string");
      return {};
    }
    std::string value = node.Scalar();
    if (value.find('\n') != std::string::npos) fail(node, key + ": must be a single line");
    return value;
  }

  int integer(const YAML::Node& node, const std::string& key, int min, int max) {
    if (!node.IsScalar()) {
      fail(node, key + ": expected an integer");
      return min;
    }
    const std::string& text = node.Scalar();
    if (!std::regex_match(text, std::regex("-?[0-9]{1,9}"))) {
      fail(node, key + ": expected an integer, got '" + text + "'");
      return min;
    }
    int value = std::stoi(text);
    if (value < min || value > max) {
      fail(node, key + ": " + std::to_string(value) + " is out of range [" + std::to_string(min) +
                     ", " + std::to_string(max) + "]");
      return min;
    }
    return value;
  }

  std::vector<std::string> list(const YAML::Node& node, const std::string& key) {
    std::vector<std::string> out;
    if (!node.IsSequence()) {
      fail(node, key + ": expected a list of strings");
      return out;
    }
    for (size_t i = 0; i < node.size(); ++i)
      out.push_back(scalar(node[i], key + "[" + std::to_string(i) + "]"));
    return out;
  }

  const std::vector<std::string>& errors() const { return errors_; }
  const std::string& file() const { return file_; }

 private:
  std::string file_;
  std::vector<std::string> errors_;
};

// Slurm --time: "M", "M:S", "H:M:S", "D-H", "D-H:M", "D-H:M:S", or UNLIMITED.
bool valid_slurm_time(const std::string& t) {
  static const std::regex re(
      "([0-9]+)|([0-9]+:[0-9]{1,2})|([0-9]+:[0-9]{1,2}:[0-9]{1,2})|"
      "([0-9]+-[0-9]{1,2})|([0-9]+-[0-9]{1,2}:[0-9]{1,2})|"
      "([0-9]+-[0-9]{1,2}:[0-9]{1,2}:[0-9]{1,2})|UNLIMITED|unlimited|infinite");
  return std::regex_match(t, re);
}

bool valid_slurm_mem(const std::string& m) {
  return std::regex_match(m, std::regex("[0-9]+[KMGT]?"));
}

// The keys that hold one plain value, read the same way: a string or a bounded integer.
struct StringKey {
  const char* key;
  std::string ClusterProfile::*field;
};
const StringKey kStringKeys[] = {{"partition", &ClusterProfile::partition},
                                 {"account", &ClusterProfile::account},
                                 {"qos", &ClusterProfile::qos},
                                 {"store_root", &ClusterProfile::store_root}};
struct IntegerKey {
  const char* key;
  int ClusterProfile::*field;
  int min, max;
};
const IntegerKey kIntegerKeys[] = {{"nodes", &ClusterProfile::nodes, 1, 100000},
                                   {"tasks_per_node", &ClusterProfile::tasks_per_node, 1, 4096},
                                   {"gpus_per_node", &ClusterProfile::gpus_per_node, 0, 64},
                                   {"cpus_per_task", &ClusterProfile::cpus_per_task, 1, 4096},
                                   {"signal_seconds", &ClusterProfile::signal_seconds, 0, 65535},
                                   {"max_requeues", &ClusterProfile::max_requeues, 0, 1000}};

// A key whose value is one of two names, each standing for an enum value.
template <typename E>
void read_named(Checker& check, const YAML::Node& v, const std::string& key,
                const std::pair<const char*, E> (&names)[2], E& out) {
  const std::string s = check.scalar(v, key);
  for (const auto& [name, value] : names) {
    if (s != name) continue;
    out = value;
    return;
  }
  check.fail(
      v, key + ": expected '" + names[0].first + "' or '" + names[1].first + "', got '" + s + "'");
}

// Reads `key` into `p` when it is one of the plain keys; false when it is not.
bool read_plain_key(ClusterProfile& p, const std::string& key, const YAML::Node& v,
                    Checker& check) {
  for (const auto& k : kStringKeys) {
    if (key != k.key) continue;
    p.*k.field = check.scalar(v, key);
    return true;
  }
  for (const auto& k : kIntegerKeys) {
    if (key != k.key) continue;
    p.*k.field = check.integer(v, key, k.min, k.max);
    return true;
  }
  return false;
}

void parse_into(ClusterProfile& p, const YAML::Node& root, Checker& check) {
  if (!root.IsMap()) {
    check.fail(root, "a cluster profile is a mapping of keys (partition, nodes, ...)");
    return;
  }
  for (const auto& item : root) {
    const YAML::Node& key_node = item.first;
    const YAML::Node& v = item.second;
    const std::string key = key_node.IsScalar() ? key_node.Scalar() : "";
    if (std::find(kKeys.begin(), kKeys.end(), key) == kKeys.end()) {
      check.fail(key_node, "unknown key '" + key + "'" + did_you_mean(key));
      continue;
    }
    if (v.IsNull()) continue;  // "qos:" with no value = cluster default
    if (read_plain_key(p, key, v, check)) continue;
    if (key == "gpu_type") {
      p.gpu_type = check.scalar(v, key);
      if (!std::regex_match(p.gpu_type, std::regex("[A-Za-z0-9_.-]*")))
        check.fail(v, "gpu_type: '" + p.gpu_type + "' is not a GRES type name ([A-Za-z0-9_.-])");
    } else if (key == "gpu_request") {
      read_named(check, v, key,
                 {{"gpus_per_node", GpuRequest::GpusPerNode}, {"gres", GpuRequest::Gres}},
                 p.gpu_request);
    } else if (key == "mem") {
      p.mem = check.scalar(v, key);
      if (!valid_slurm_mem(p.mem))
        check.fail(v, "mem: '" + p.mem + "' is not a Slurm memory size (e.g. 16G, 4000M)");
    } else if (key == "time") {
      p.time = check.scalar(v, key);
      if (!valid_slurm_time(p.time))
        check.fail(v, "time: '" + p.time + "' is not a Slurm time (MM, HH:MM:SS, D-HH:MM, ...)");
    } else if (key == "modules") {
      p.modules = check.list(v, key);
    } else if (key == "launcher_args") {
      p.launcher_args = check.list(v, key);
    } else if (key == "extra_sbatch") {
      p.extra_sbatch = check.list(v, key);
      for (const auto& line : p.extra_sbatch)
        if (line.empty() || line[0] != '-')
          check.fail(v, "extra_sbatch: '" + line + "' is not an sbatch option (--...)");
    } else if (key == "launcher") {
      read_named(check, v, key, {{"srun", Launcher::Srun}, {"mpirun", Launcher::Mpirun}},
                 p.launcher);
    } else if (key == "env") {
      if (!v.IsMap()) {
        check.fail(v, "env: expected a mapping NAME: value");
        continue;
      }
      for (const auto& e : v) {
        std::string name = check.scalar(e.first, "env");
        if (!std::regex_match(name, std::regex("[A-Za-z_][A-Za-z0-9_]*")))
          check.fail(e.first, "env: '" + name + "' is not a valid environment variable name");
        if (!e.second.IsScalar() && !e.second.IsNull()) {
          check.fail(e.second, "env." + name + ": expected a string");
          continue;
        }
        p.env.emplace_back(name, e.second.IsNull() ? "" : e.second.Scalar());
      }
    }
  }
}

}  // namespace

const char* launcher_name(Launcher launcher) {
  return launcher == Launcher::Srun ? "srun" : "mpirun";
}

ClusterProfile parse_cluster_profile(const std::string& yaml_text, const std::string& file_name) {
  ClusterProfile profile;
  profile.file = file_name;
  Checker check(file_name);
  YAML::Node root;
  try {
    root = YAML::Load(yaml_text);
  } catch (const YAML::Exception& e) {
    throw Error(file_name + ":" + std::to_string(e.mark.line + 1) + ":" +
                std::to_string(e.mark.column + 1) + ": " + e.msg);
  }
  if (root.IsNull()) throw Error(file_name + ":1:1: empty cluster profile");
  parse_into(profile, root, check);
  if (!check.errors().empty()) {
    std::ostringstream all;
    for (size_t i = 0; i < check.errors().size(); ++i) all << (i ? "\n" : "") << check.errors()[i];
    throw Error(all.str());
  }
  return profile;
}

ClusterProfile load_cluster_profile(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) throw error_at(file.string(), "", "cannot read cluster profile");
  std::stringstream text;
  text << in.rdbuf();
  return parse_cluster_profile(text.str(), file.string());
}

}  // namespace csweep::cluster
