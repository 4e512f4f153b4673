// docs/cluster.md's profile table against the profile reader (issue 14 item 7): every key it
// documents (a row may name several: `partition`, `account`, `qos`) is one
// parse_cluster_profile takes, and the documented defaults are the ones it gives.
#include <fstream>
#include <regex>
#include <sstream>

#include <gtest/gtest.h>

#include "cluster/profile.h"
#include "common/error.h"
#include "tests/test_paths.h"

namespace csweep::testing {
namespace {

// The keys of the table under "## Cluster profiles": every `name` of each row's first cell.
std::vector<std::string> documented_profile_keys() {
  std::ifstream in(source_path("docs/cluster.md"));
  std::string line;
  bool in_section = false;
  std::vector<std::string> keys;
  const std::regex name("`([a-z_]+)`");
  while (std::getline(in, line)) {
    if (line.rfind("## ", 0) == 0) in_section = line.find("Cluster profiles") != std::string::npos;
    if (!in_section || line.rfind("| `", 0) != 0) continue;
    const std::string first = line.substr(1, line.find('|', 1) - 1);
    for (auto it = std::sregex_iterator(first.begin(), first.end(), name);
         it != std::sregex_iterator(); ++it)
      keys.push_back((*it)[1].str());
  }
  return keys;
}

std::string profile_error(const std::string& yaml) {
  try {
    cluster::parse_cluster_profile(yaml, "cluster.yaml");
  } catch (const csweep::Error& e) {
    return e.what();
  }
  return "";
}

TEST(ClusterDoc, EveryDocumentedProfileKeyIsRead) {
  const auto keys = documented_profile_keys();
  EXPECT_GE(keys.size(), 19u);
  for (const auto& key : keys) {
    const std::string error = profile_error(key + ": 1\n");
    EXPECT_EQ(error.find("unknown key '" + key + "'"), std::string::npos)
        << "docs/cluster.md documents " << key << ", the profile reader refuses it:\n"
        << error;
  }
  EXPECT_NE(profile_error("no_such_key: 1\n").find("unknown key 'no_such_key'"), std::string::npos);
}

// The defaults column: 1 node, 1 task, no GPUs, 1 CPU, signal 120 s, 3 requeues, srun.
TEST(ClusterDoc, DocumentedDefaultsAreTheReadersDefaults) {
  const cluster::ClusterProfile p = cluster::parse_cluster_profile("{}\n", "cluster.yaml");
  std::ifstream in(source_path("docs/cluster.md"));
  std::stringstream text;
  text << in.rdbuf();
  const std::string doc = text.str();
  // The row whose key cell is `keys` says `value` in its default column.
  auto expect_default = [&](const std::string& keys, const std::string& value) {
    const auto at = doc.find("| " + keys + " | " + value + " |");
    EXPECT_NE(at, std::string::npos)
        << "docs/cluster.md: the row " << keys << " should give the default " << value;
  };
  const auto n = [](int v) { return std::to_string(v); };
  expect_default("`nodes`, `tasks_per_node`", n(p.nodes) + ", " + n(p.tasks_per_node));
  expect_default("`gpus_per_node`, `gpu_request`, `gpu_type`",
                 n(p.gpus_per_node) + ", `gpus_per_node`, –");
  expect_default("`cpus_per_task`", n(p.cpus_per_task));
  expect_default("`signal_seconds`", n(p.signal_seconds));
  expect_default("`max_requeues`", n(p.max_requeues));
  expect_default("`launcher`, `launcher_args`",
                 std::string("`") + cluster::launcher_name(p.launcher) + "`");
}

}  // namespace
}  // namespace csweep::testing
