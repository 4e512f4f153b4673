// Every csweep command README.md and docs/*.md show (issue 14 item 7): each names a subcommand
// that exists and only options its --help lists; each whole command line without a
// placeholder (JOB.yaml, STORE, DIR, ...) runs as written, exit 0, in a copy of examples/, and
// a line that cannot run here (a Slurm cluster, a file the user supplies) is one of the kinds
// listed in `cannot_run_here`. Every repository file and every test the docs name exists.
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>

#include <gtest/gtest.h>

#include "tests/run_command.h"
#include "tests/test_paths.h"

namespace csweep::testing {
namespace {

struct DocCommand {
  std::string file;
  int line = 0;
  std::string text;    // "csweep plan examples/induction.yaml --ranks 3"
  bool whole = false;  // a command line of its own (code block), not a phrase in prose
};

std::vector<std::filesystem::path> doc_files() {
  std::vector<std::filesystem::path> files{source_path("README.md")};
  for (const auto& e : std::filesystem::directory_iterator(source_path("docs")))
    if (e.path().extension() == ".md") files.push_back(e.path());
  std::sort(files.begin(), files.end());
  return files;
}

// Code-block lines (indented or fenced) that start with csweep/mpirun, and `csweep ...` spans.
std::vector<DocCommand> doc_commands() {
  std::vector<DocCommand> out;
  const std::regex span("`(csweep [^`]+)`");
  const std::regex block_line(
      R"(^(?:\s{4}|\s*\$ |)((?:mpirun [^#]*?)?csweep(?: [^#]*)?)(?:#.*)?$)");
  for (const auto& file : doc_files()) {
    std::ifstream in(file);
    std::string line;
    bool fenced = false;
    for (int n = 1; std::getline(in, line); ++n) {
      if (line.rfind("```", 0) == 0) {
        fenced = !fenced;
        continue;
      }
      const bool code = fenced || line.rfind("    ", 0) == 0;
      std::smatch m;
      if (code && std::regex_match(line, m, block_line)) {
        std::string text = m[1].str();
        text.erase(text.find_last_not_of(' ') + 1);
        out.push_back({file.filename().string(), n, text, true});
        continue;
      }
      for (auto it = std::sregex_iterator(line.begin(), line.end(), span);
           it != std::sregex_iterator(); ++it)
        out.push_back({file.filename().string(), n, (*it)[1].str(), false});
    }
  }
  return out;
}

std::string subcommand_of(const std::string& text) {
  const auto at = text.find("csweep ");
  std::istringstream words(text.substr(at + 7));
  std::string word;
  words >> word;
  return word;
}

std::string help_of(const std::string& sub) {
  return run_command(csweep_bin() + (sub.rfind("--", 0) == 0 ? "" : " " + sub) + " --help").output;
}

// Why a whole command line cannot run here, or "" when it can.
std::string cannot_run_here(const DocCommand& c) {
  static const std::regex placeholder(R"((^| )(\[|[A-Z][A-Z_]+(\.[a-z]+)?( |$|,))|\.\.\.)");
  if (std::regex_search(c.text, placeholder)) return "a synopsis with placeholders";
  if (c.text.find("model.gguf") != std::string::npos || c.text.find(".gguf") != std::string::npos)
    return "a GGUF file the user supplies";
  if (c.text.find("/scratch") != std::string::npos ||
      (c.text.find("submit") != std::string::npos &&
       c.text.find("--dry-run") == std::string::npos) ||
      c.text.find("cancel") != std::string::npos)
    return "a Slurm cluster";
  if (c.text.find("validate store") != std::string::npos) return "the user's own store";
  return "";
}

TEST(DocsCommands, EverySubcommandAndOptionShownExists) {
  const auto commands = doc_commands();
  ASSERT_GE(commands.size(), 50u);
  const std::string top = help_of("--help");
  std::map<std::string, std::string> helps;
  const std::regex option(R"((^|[ \[|])(--[a-z][a-z0-9-]*))");
  for (const auto& c : commands) {
    std::string sub = subcommand_of(c.text);
    if (sub.empty() || sub.rfind("--", 0) == 0 || sub == "...") continue;
    const std::string where = c.file + ":" + std::to_string(c.line) + ": " + c.text;
    EXPECT_NE(top.find(" " + sub + " "), std::string::npos)
        << "no subcommand " << sub << ": " << where;
    if (!helps.count(sub)) helps[sub] = help_of(sub);
    std::string after = c.text.substr(c.text.find("csweep ") + 7 + sub.size());
    // A command with subcommands of its own (convert gguf): the options are the inner one's.
    if (helps[sub].find("Subcommands:") != std::string::npos) {
      std::istringstream words(after);
      std::string inner;
      words >> inner;
      EXPECT_NE(helps[sub].find("  " + inner + " "), std::string::npos)
          << "no subcommand " << sub << " " << inner << ": " << where;
      after = after.substr(after.find(inner) + inner.size());
      sub += " " + inner;
      if (!helps.count(sub)) helps[sub] = help_of(sub);
    }
    for (auto it = std::sregex_iterator(after.begin(), after.end(), option);
         it != std::sregex_iterator(); ++it) {
      const std::string flag = (*it)[2].str();
      EXPECT_NE(helps[sub].find(flag), std::string::npos)
          << "csweep " << sub << " --help has no " << flag << ": " << where;
    }
  }
}

TEST(DocsCommands, EveryWholeCommandLineRunsOrSaysWhyNot) {
  const auto dir = std::filesystem::temp_directory_path() /
                   ("csweep-docs-commands-" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir / "repo");
  // ../../shared/fixtures from examples/ resolves beside the copy, as in the real tree.
  std::filesystem::create_directory_symlink(shared_fixture("gpt2-tiny").parent_path().parent_path(),
                                            dir / "shared");
  std::filesystem::copy(source_path("examples"), dir / "repo" / "examples",
                        std::filesystem::copy_options::recursive);
  const std::string bin_dir = std::filesystem::path(csweep_bin()).parent_path().string();
  int ran = 0, skipped = 0;
  for (const auto& c : doc_commands()) {
    if (!c.whole) continue;
    const std::string where = c.file + ":" + std::to_string(c.line) + ": " + c.text;
    if (const std::string why = cannot_run_here(c); !why.empty()) {
      std::printf("not run (%s): %s\n", why.c_str(), where.c_str());
      ++skipped;
      continue;
    }
    std::printf("run: %s\n", where.c_str());
    // README's store /tmp/s is private here: test_apps_cli may use it at the same time.
    const std::string text =
        std::regex_replace(c.text, std::regex("/tmp/s\\b"), (dir / "s").string());
    const auto r = run_command("cd " + (dir / "repo").string() + " && PATH=" + bin_dir + ":$PATH " +
                               text + " 2>&1");
    EXPECT_EQ(r.status, 0) << where << "\n" << r.output;
    ++ran;
  }
  EXPECT_GE(ran, 8);
  EXPECT_GE(skipped, 5);
  std::filesystem::remove_all(dir);
}

// Calls f("file.md:line", match) for every match of `re` in README.md and docs/*.md.
template <typename F>
void for_each_doc_match(const std::regex& re, F f) {
  for (const auto& file : doc_files()) {
    std::ifstream in(file);
    std::string line;
    for (int n = 1; std::getline(in, line); ++n)
      for (auto it = std::sregex_iterator(line.begin(), line.end(), re);
           it != std::sregex_iterator(); ++it)
        f(file.filename().string() + ":" + std::to_string(n), *it);
  }
}

// Every repository file a doc names in backticks (`tests/report/interactive_test.cpp`) exists,
// from the repository root, docs/ or the root's parent (`../shared/...`).
TEST(DocsCommands, EveryFileNamedExists) {
  const std::regex path(
      R"(`((?:\.\./)?[A-Za-z0-9_.-]+(?:/[A-Za-z0-9_.-]+)+\.(?:cpp|h|py|sh|yaml|md|txt|json|js))`)");
  int named = 0;
  for_each_doc_match(path, [&](const std::string& where, const std::smatch& m) {
    const std::string p = m[1].str();
    if (std::regex_search(p, std::regex("^[A-Z]+/"))) return;  // STORE/spec.yaml: a placeholder
    ++named;
    EXPECT_TRUE(std::filesystem::exists(source_path(p)) ||
                std::filesystem::exists(source_path("docs/" + p)))
        << where << ": no such file " << p;
  });
  EXPECT_GE(named, 50);
}

// Every test a doc names (`Suite.Name`, `Suite.*`, `Suite.Prefix*`) is defined: a gtest TEST,
// TEST_F or TEST_P in tests/, or a ctest add_test(NAME ...) in a tests/ CMakeLists.txt.
TEST(DocsCommands, EveryTestNamedExists) {
  std::set<std::string> defined;
  const std::regex gtest(R"(TEST(?:_F|_P)?\(\s*([A-Za-z0-9]+),\s*([A-Za-z0-9]+))");
  const std::regex ctest(R"(add_test\(NAME ([A-Za-z0-9]+)\.([A-Za-z0-9]+))");
  for (const auto& e : std::filesystem::recursive_directory_iterator(source_path("tests"))) {
    const auto ext = e.path().extension();
    if (ext != ".cpp" && e.path().filename() != "CMakeLists.txt") continue;
    std::ifstream in(e.path());
    std::stringstream text;
    text << in.rdbuf();
    const std::string s = text.str();
    for (const auto& re : {gtest, ctest})
      for (auto it = std::sregex_iterator(s.begin(), s.end(), re); it != std::sregex_iterator();
           ++it)
        defined.insert((*it)[1].str() + "." + (*it)[2].str());
  }
  ASSERT_GE(defined.size(), 300u);
  const std::regex named(R"([`']([A-Z][A-Za-z0-9]+)\.(\*|[A-Z][A-Za-z0-9]*\*?)[`'])");
  int checked = 0;
  for_each_doc_match(named, [&](const std::string& where, const std::smatch& m) {
    const std::string prefix = m[1].str() + "." + m[2].str();
    const std::string stem = prefix.substr(0, prefix.find('*'));
    const auto hit = defined.lower_bound(stem);
    const bool found = prefix.back() == '*' ? hit != defined.end() && hit->rfind(stem, 0) == 0
                                            : defined.count(prefix) == 1;
    EXPECT_TRUE(found) << where << ": no test " << prefix;
    ++checked;
  });
  EXPECT_GE(checked, 20);
}

// Every `ctest -R PATTERN` / `ctest -L LABELS` a doc gives selects tests in this build tree:
// -R matches test names (Suite.Name), -L labels (folders), and a pattern of folder names given
// to -R selects nothing.
TEST(DocsCommands, EveryCtestSelectionSelectsTests) {
  const std::regex selection(R"(`ctest (-[RL]) '?([^'`]+)'?`)");
  int checked = 0;
  for_each_doc_match(selection, [&](const std::string& where, const std::smatch& m) {
    const auto r = run_command(std::string("cd ") + CSWEEP_BINARY_DIR + " && ctest -N " +
                               m[1].str() + " '" + m[2].str() + "' 2>&1");
    std::smatch total;
    const bool counted = std::regex_search(r.output, total, std::regex(R"(Total Tests: (\d+))"));
    EXPECT_TRUE(counted && std::stoi(total[1].str()) > 0)
        << where << ": ctest " << m[1].str() << " '" << m[2].str() << "' selects no test";
    ++checked;
  });
  EXPECT_GE(checked, 5);
}

// README.md points to every page of docs/.
TEST(DocsCommands, ReadmeNamesEveryDocsPage) {
  std::ifstream in(source_path("README.md"));
  std::stringstream readme;
  readme << in.rdbuf();
  int pages = 0;
  for (const auto& file : doc_files()) {
    if (file.filename() == "README.md") continue;
    ++pages;
    EXPECT_NE(readme.str().find("docs/" + file.filename().string()), std::string::npos)
        << "README.md does not name docs/" << file.filename().string();
  }
  EXPECT_GE(pages, 10);
}

}  // namespace
}  // namespace csweep::testing
