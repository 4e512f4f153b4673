// docs/jobs.md against the job reader (issue 14 item 7): every key its tables document is one
// the reader takes in that place (no "unknown key"), every key of every registered analysis
// kind has its row, and every field the resolved spec carries (canonical_json writes every
// default out) is documented in its section.
#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "tests/jobs/job_test_util.h"

namespace csweep::jobs::testing {
namespace {

// A table row's cells, split on the '|' that are not written "\|".
std::vector<std::string> cells(const std::string& row) {
  std::vector<std::string> out;
  std::string cell;
  for (size_t i = 1; i < row.size(); ++i) {
    if (row[i] == '|' && row[i - 1] != '\\') {
      out.push_back(cell);
      cell.clear();
    } else {
      cell += row[i];
    }
  }
  return out;
}

// The names a "keys" cell lists: the first `word` of each comma-separated item outside
// brackets and backticks ("`method` (`zero` \| `mean`), `seed`, `layers`" → method, seed, layers).
std::vector<std::string> listed_keys(const std::string& cell) {
  std::vector<std::string> out;
  int depth = 0;
  bool item_start = true, quoted = false;
  std::string word;
  for (char c : cell) {
    if (c == '`') {
      if (quoted && item_start && depth == 0) {
        out.push_back(word);
        item_start = false;
      }
      quoted = !quoted;
      word.clear();
    } else if (quoted) {
      word += c;
    } else if (c == '(' || c == '{' || c == '[') {
      ++depth;
    } else if (c == ')' || c == '}' || c == ']') {
      --depth;
    } else if (c == ',' && depth == 0) {
      item_start = true;
    }
  }
  return out;
}

std::string unquoted(const std::string& cell) {
  const auto a = cell.find('`'), b = cell.find('`', a + 1);
  return a == std::string::npos || b == std::string::npos ? "" : cell.substr(a + 1, b - a - 1);
}

// What docs/jobs.md documents: section ("top", "model", "prompt", "template ioi",
// "kind ablation", ...) → keys (its tables' first column, or the keys column of a
// template/kind row), each key's default column where its table has one ("model.dtype" →
// "`float32`"), and each section's whole text.
struct JobsDoc {
  std::map<std::string, std::set<std::string>> keys;
  std::map<std::string, std::string> defaults;
  std::map<std::string, std::string> text;
};

JobsDoc read_jobs_doc() {
  JobsDoc doc;
  std::ifstream in(csweep::testing::source_path("docs/jobs.md"));
  std::string line, section, table;  // table: the first header cell ("key", "kind", ...)
  bool has_default = false;          // the table's third column is "default"
  while (std::getline(in, line)) {
    if (line.rfind("## ", 0) == 0) {
      section = line == "## Top level" ? "top" : unquoted(line);
      continue;
    }
    doc.text[section] += line + "\n";
    if (line.rfind("| ", 0) == 0 && line.rfind("| `", 0) != 0) {
      std::istringstream header(line.substr(2));
      header >> table;
      const auto names = cells(line);
      has_default = names.size() > 2 && names[2] == " default ";
    }
    if (line.rfind("| `", 0) != 0) continue;
    const auto row = cells(line);
    const std::string first = unquoted(row[0]);
    if (table == "template" || table == "kind") {  // name | keys | what it makes
      for (const auto& k : listed_keys(row[1])) doc.keys[table + " " + first].insert(k);
    } else {
      doc.keys[section == "prompts" ? "prompt" : section].insert(first);
      if (has_default) doc.defaults[section + "." + first] = row[2];
    }
  }
  return doc;
}

const std::string kAnalysis = "analyses:\n  - {name: x, kind: logit_lens}\n";

// The job text with `key` placed in `section` (any value: only its name is under test).
std::string job_with(const std::string& section, const std::string& key) {
  const std::string model = kModel, prompts = kPrompt;
  if (section == "top") return model + prompts + kAnalysis + key + ": 0\n";
  if (section == "model") return model + "  " + key + ": 0\n" + prompts + kAnalysis;
  if (section == "prompt")
    return model + "prompts:\n  - {clean: [1, 2], answer: 3, wrong: 4, " + key + ": 0}\n" +
           kAnalysis;
  if (section.rfind("template ", 0) == 0)
    return model + "prompts:\n  - {template: " + section.substr(9) + ", n: 1, " + key + ": 0}\n" +
           kAnalysis;
  if (section.rfind("kind ", 0) == 0)
    return model + prompts + "analyses:\n  - {name: x, kind: " + section.substr(5) + ", " + key +
           ": 0}\n";
  return model + prompts + kAnalysis + section + ":\n  " + key + ": 0\n";
}

TEST(JobsDoc, EveryDocumentedKeyIsReadWhereTheDocsPutIt) {
  const JobsDoc doc = read_jobs_doc();
  for (const char* section :
       {"top", "model", "prompt", "template ioi", "template factual", "template repeated_tokens",
        "sharding", "reduce", "validation", "run", "kind ablation"})
    EXPECT_FALSE(doc.keys.count(section) == 0) << "docs/jobs.md: no keys found for " << section;
  int probed = 0;
  for (const auto& [section, keys] : doc.keys)
    for (const auto& key : keys) {
      if (section == "top" && (key == "model" || key == "prompts" || key == "analyses")) continue;
      if (section == "model" && key == "path") continue;
      const std::string error = parse_error(job_with(section, key));
      EXPECT_EQ(error.find("unknown key \"" + key + "\""), std::string::npos)
          << "docs/jobs.md documents " << key << " (" << section << "), the reader refuses it:\n"
          << error;
      ++probed;
    }
  EXPECT_GE(probed, 60);
}

TEST(JobsDoc, EveryKindAndEveryKeyItReadsIsDocumented) {
  const JobsDoc doc = read_jobs_doc();
  for (const Kind* kind : all_kinds()) {
    ASSERT_TRUE(doc.keys.count("kind " + kind->name))
        << "docs/jobs.md has no row for the analysis kind " << kind->name;
    const auto& documented = doc.keys.at("kind " + kind->name);
    for (const auto& key : kind->keys)
      EXPECT_TRUE(documented.count(key))
          << "docs/jobs.md's " << kind->name << " row does not name its key " << key;
    EXPECT_TRUE(documented.count("layers")) << kind->name << " row: no layers";
  }
}

// canonical_json writes every field of the resolved spec; each is documented in its section
// (prompts and analyses are written resolved, in other names: the rows above cover them).
TEST(JobsDoc, EveryFieldOfTheResolvedSpecIsDocumented) {
  JobsDoc doc = read_jobs_doc();  // [] below: a section without a table has no keys
  const std::string job = std::string(kModel) + "  process_weights: true\n" + kPrompt +
                          "analyses:\n  - {name: x, kind: logit_lens}\nvalidation:\n"
                          "  assertions:\n    - {analysis: x, expect: greater_than, value: 0}\n";
  const nlohmann::json spec = canonical_json(parse_job_spec(job, job_path()));
  for (const auto& [key, value] : spec.items()) {
    EXPECT_TRUE(doc.keys.at("top").count(key)) << "docs/jobs.md: no top-level row for " << key;
    if (!value.is_object() || key == "prompts" || key == "analyses") continue;
    for (const auto& [inner, unused] : value.items())
      EXPECT_TRUE(doc.keys[key].count(inner)) << "docs/jobs.md: no row for " << key << "." << inner;
  }
  // process_weights' steps, and each assertion's fields, are named in their row's text
  for (const auto& [step, on] : spec["model"]["process_weights"].items())
    EXPECT_NE(doc.text.at("model").find("`" + step + "`"), std::string::npos)
        << "docs/jobs.md: model.process_weights." << step;
  for (const auto& [field, v] : spec["validation"]["assertions"][0].items())
    EXPECT_NE(doc.text.at("validation").find("`" + field + "`"), std::string::npos)
        << "docs/jobs.md: validation.assertions[].{" << field << "} is not named";
}

// The default column says what a job without the key resolves to (canonical_json writes every
// default out): `float32`, 128, 1e-4, true... Defaults in words ("file stem", "none",
// "required") are not compared.
TEST(JobsDoc, EveryDocumentedDefaultIsTheResolvedOne) {
  const JobsDoc doc = read_jobs_doc();
  const nlohmann::json spec = canonical_json(parse_job_spec(
      std::string(kModel) + kPrompt + "analyses:\n  - {name: x, kind: logit_lens}\n", job_path()));
  int compared = 0;
  for (const auto& [where, cell] : doc.defaults) {
    const std::string section = where.substr(0, where.find('.'));
    const std::string key = where.substr(where.find('.') + 1);
    const nlohmann::json* value = section == "top" ? (spec.contains(key) ? &spec[key] : nullptr)
                                  : spec.contains(section) && spec[section].contains(key)
                                      ? &spec[section][key]
                                      : nullptr;
    std::string text = cell;
    text.erase(std::remove(text.begin(), text.end(), '`'), text.end());
    text.erase(0, text.find_first_not_of(' '));
    text.erase(text.find_last_not_of(' ') + 1);
    if (!value || text.empty()) continue;
    if (value->is_string()) {
      // a default in words: "file stem", "required", "none", "<name>.store"
      if (text == "required" || text == "none" || text.find_first_of(" <") != std::string::npos)
        continue;
      EXPECT_EQ(text, value->get<std::string>()) << "docs/jobs.md: default of " << where;
    } else if (value->is_boolean()) {
      EXPECT_EQ(text, value->get<bool>() ? "true" : "false")
          << "docs/jobs.md: default of " << where;
    } else if (value->is_number()) {
      char* end = nullptr;
      const double documented = std::strtod(text.c_str(), &end);
      if (end == text.c_str() || *end != '\0') continue;  // "none": no number to compare
      EXPECT_DOUBLE_EQ(documented, value->get<double>()) << "docs/jobs.md: default of " << where;
    } else {
      continue;
    }
    ++compared;
  }
  EXPECT_GE(compared, 10);
}

}  // namespace
}  // namespace csweep::jobs::testing
