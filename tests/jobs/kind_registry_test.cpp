// The analysis-kind registry: one row per kind, found by name; and the weight_norms row read
// from YAML (its grid, its canonical options, its file:line:column errors).
#include <set>

#include "tests/jobs/job_test_util.h"

namespace csweep::jobs::testing {
namespace {

TEST(KindRegistry, OneRowPerNameWithEveryPart) {
  std::set<std::string> names;
  for (const Kind* k : all_kinds()) {
    SCOPED_TRACE(k->name);
    EXPECT_TRUE(names.insert(k->name).second);
    EXPECT_EQ(find_kind(k->name), k);
    EXPECT_NE(k->read, nullptr);
    EXPECT_NE(k->grid, nullptr);
    EXPECT_NE(k->cost, nullptr);
  }
  EXPECT_EQ(find_kind("weight_norm"), nullptr);
  EXPECT_THROW(kind("weight_norm"), Error);
}

TEST(WeightNormsKind, GridIsQuantityLayerHead) {
  const JobSpec spec =
      parse_job_spec(std::string(kModel) + kPrompt +
                         "analyses:\n  - {name: n, kind: weight_norms, layers: [2, 0], "
                         "heads: 1-2, quantities: qk}\n",
                     job_path());
  const AnalysisSpec& a = spec.analyses.at(0);
  ASSERT_EQ(a.kind, find_kind("weight_norms"));
  const std::vector<Axis> axes = a.kind->grid(a);
  ASSERT_EQ(axes.size(), 3u);
  EXPECT_EQ(axes[0].name, "quantity");
  EXPECT_EQ(axes[0].labels, std::vector<std::string>{"qk"});
  EXPECT_EQ(axes[0].values, std::vector<int64_t>{1});  // the index among ov, qk
  EXPECT_EQ(axes[1].values, (std::vector<int64_t>{0, 2}));
  EXPECT_EQ(axes[2].values, (std::vector<int64_t>{1, 2}));
  EXPECT_EQ(canonical_json(spec)["analyses"][0]["options"].dump(), R"({"quantities":["qk"]})");
  EXPECT_EQ(a.kind->reduce.colour_scale, ColourScale::Sequential);
  EXPECT_FALSE(a.kind->uses_metric);
}

TEST(WeightNormsKind, DefaultsToBothCircuitsOfEveryHead) {
  // No answers needed: the kind does not use the metric.
  const JobSpec spec = parse_job_spec(std::string(kModel) + "prompts:\n  - {clean: [1, 2, 3]}\n" +
                                          "analyses:\n  - {name: n, kind: weight_norms}\n",
                                      job_path());
  const AnalysisSpec& a = spec.analyses.at(0);
  EXPECT_EQ(a.kind->grid(a)[0].labels, (std::vector<std::string>{"ov", "qk"}));
  EXPECT_EQ(a.heads, (std::vector<int64_t>{0, 1, 2, 3}));
}

TEST(WeightNormsKind, ErrorsNameFileLineColumnAndField) {
  EXPECT_EQ(parse_error(
                std::string(kModel) + kPrompt +
                "analyses:\n  - {name: n, kind: weight_norms, quantities: [ov, vo], heads: [4]}\n"),
            at(9, 52,
               "analyses[0].quantities[1]: unknown value \"vo\" (did you mean \"ov\"?); expected "
               "one of ov, qk") +
                "\n" +
                at(9, 65, "analyses[0].heads[0]: head 4 out of range (model has 4 heads: 0..3)"));
  EXPECT_EQ(parse_error(std::string(kModel) + kPrompt +
                        "analyses:\n  - {name: n, kind: weight_norms, sites: [x]}\n"),
            at(9, 35, "unknown key \"sites\" in analyses[0]"));
}

}  // namespace
}  // namespace csweep::jobs::testing
