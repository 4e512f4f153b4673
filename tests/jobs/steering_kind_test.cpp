// The steering row read from YAML: its grid [layer, (pos,) scale, quantity], canonical options,
// directions from .safetensors and .npy files, and one-line file:line:column refusals naming
// the field (missing file, unknown tensor, wrong d_model, two directions).
#include <unistd.h>

#include <cstring>
#include <fstream>

#include "jobs/kinds/kind_options.h"
#include "model/safetensors_writer.h"
#include "tests/jobs/job_test_util.h"

namespace csweep::jobs::testing {
namespace {

namespace fs = std::filesystem;

class SteeringKind : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("csweep-steering-kind-" + std::to_string(::getpid()));
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string safetensors(const std::string& name, std::vector<int64_t> shape) {
    std::vector<float> v(static_cast<size_t>(shape.back() * (shape.size() == 2 ? shape[0] : 1)));
    for (size_t i = 0; i < v.size(); ++i) v[i] = 0.25f * static_cast<float>(i);
    model::TensorBytes t{name, model::DType::F32, std::move(shape), {}};
    t.bytes.resize(v.size() * 4);
    std::memcpy(t.bytes.data(), v.data(), t.bytes.size());
    const fs::path path = dir_ / ("v-" + name + ".safetensors");
    model::write_safetensors(path, {std::move(t)});
    return path.string();
  }

  // A version-1 .npy file of little-endian float64 values 0, 0.5, 1, ...
  std::string npy(int64_t n) {
    std::string header =
        "{'descr': '<f8', 'fortran_order': False, 'shape': (" + std::to_string(n) + ",), }";
    header.append(64 - (10 + header.size() + 1) % 64, ' ');
    header += '\n';
    const fs::path path = dir_ / ("v" + std::to_string(n) + ".npy");
    std::ofstream out(path, std::ios::binary);
    out << "\x93NUMPY\x01" << '\0' << static_cast<char>(header.size() & 0xff)
        << static_cast<char>(header.size() >> 8) << header;
    for (int64_t i = 0; i < n; ++i) {
      const double d = 0.5 * static_cast<double>(i);
      out.write(reinterpret_cast<const char*>(&d), 8);
    }
    return path.string();
  }

  static std::string job(const std::string& line) { return analysis_job(line); }
  static std::string error_at(const std::string& line, const std::string& value,
                              const std::string& reason) {
    return analysis_error_at(line, value, reason);
  }

  fs::path dir_;
};

TEST_F(SteeringKind, GridIsLayerScaleQuantityFromTheMeanDifferenceByDefault) {
  const JobSpec spec = parse_job_spec(
      job("  - {name: s, kind: steering, layers: [2, 1], scales: [-2, 0, 0.5], site: "
          "hook_resid_pre}"),
      job_path());
  const AnalysisSpec& a = spec.analyses.at(0);
  ASSERT_EQ(a.kind, find_kind("steering"));
  const std::vector<Axis> axes = a.kind->grid(a);
  ASSERT_EQ(axes.size(), 3u);
  EXPECT_EQ(axes[0].values, (std::vector<int64_t>{1, 2}));
  EXPECT_EQ(axes[1].name, "scale");
  EXPECT_EQ(axes[1].labels, (std::vector<std::string>{"-2", "0", "0.5"}));
  EXPECT_EQ(axes[1].values, (std::vector<int64_t>{0, 1, 2}));
  EXPECT_EQ(axes[2].labels, (std::vector<std::string>{"metric", "kl", "top_token"}));
  EXPECT_EQ(
      canonical_json(spec)["analyses"][0]["options"].dump(),
      R"({"direction":{"mean_difference":["clean","corrupted"]},"normalize":false,)"
      R"("quantities":["metric","kl","top_token"],"scales":[-2,0,0.5],"site":"hook_resid_pre"})");
  EXPECT_TRUE(a.kind->reduce.quantities.at(2).token_ids);
  EXPECT_TRUE(a.kind->cost(a, model::ModelConfig{}).per_cell_forward);
}

TEST_F(SteeringKind, PositionsAddAPositionAxis) {
  const JobSpec spec =
      parse_job_spec(job("  - {name: s, kind: steering, positions: [0, 7], quantities: kl, "
                         "direction: {mean_difference: [corrupted, clean]}, normalize: true}"),
                     job_path());
  const AnalysisSpec& a = spec.analyses.at(0);
  const std::vector<Axis> axes = a.kind->grid(a);
  ASSERT_EQ(axes.size(), 4u);
  EXPECT_EQ(axes[1].name, "pos");
  EXPECT_EQ(axes[1].values, (std::vector<int64_t>{0, 7}));
  EXPECT_EQ(axes[2].size, 7);  // the default scales -8 .. 8
  EXPECT_EQ(axes[3].values, std::vector<int64_t>{1});
  const auto& o = a.options_as<SteeringOptions>();
  EXPECT_EQ(o.mean_difference, (std::vector<std::string>{"corrupted", "clean"}));
  EXPECT_TRUE(o.normalize);
}

TEST_F(SteeringKind, DirectionFromASafetensorsTensorOrANpyArray) {
  const std::string st = safetensors("v", {3, 64});
  JobSpec spec = parse_job_spec(
      job("  - {name: s, kind: steering, direction: {file: " + st + ", tensor: v}}"), job_path());
  const auto& o = spec.analyses.at(0).options_as<SteeringOptions>();
  EXPECT_EQ(o.shape, (std::vector<int64_t>{3, 64}));
  ASSERT_EQ(o.values.size(), 192u);
  EXPECT_EQ(o.values[191], 0.25f * 191);
  const auto options = canonical_json(spec)["analyses"][0]["options"]["direction"];
  EXPECT_EQ(options["tensor"], "v");
  EXPECT_EQ(options["values_sha256"].get<std::string>().size(), 64u);

  spec = parse_job_spec(job("  - {name: s, kind: steering, direction: {file: " + npy(64) + "}}"),
                        job_path());
  const auto& n = spec.analyses.at(0).options_as<SteeringOptions>();
  EXPECT_EQ(n.shape, std::vector<int64_t>{64});
  EXPECT_EQ(n.values.at(63), 31.5f);
}

TEST_F(SteeringKind, RefusalsNameFileLineColumnAndField) {
  const std::string missing = (dir_ / "missing.safetensors").string();
  std::string line = "  - {name: s, kind: steering, direction: {file: " + missing + "}}";
  EXPECT_EQ(parse_error(job(line)),
            error_at(line, missing, "analyses[0].direction.file: " + missing + ": no such file"));

  const std::string st = safetensors("v", {5});
  line = "  - {name: s, kind: steering, direction: {file: " + st + ", tensor: w}}";
  EXPECT_EQ(parse_error(job(line)), error_at(line, "w}",
                                             "analyses[0].direction.tensor: no tensor \"w\" in " +
                                                 st + " (did you mean \"v\"?)"));

  line = "  - {name: s, kind: steering, direction: {file: " + st + ", tensor: v}}";
  EXPECT_EQ(parse_error(job(line)),
            error_at(line, "v}",
                     "analyses[0].direction.tensor: shape [5] is neither [d_model] = "
                     "[64] nor [n_layers, d_model] = [3, 64]"));

  const std::string wrong_npy = npy(63);
  line = "  - {name: s, kind: steering, direction: {file: " + wrong_npy + "}}";
  EXPECT_EQ(parse_error(job(line)),
            error_at(line, wrong_npy,
                     "analyses[0].direction.file: shape [63] is neither [d_model] = [64] nor "
                     "[n_layers, d_model] = [3, 64]"));

  line = "  - {name: s, kind: steering, direction: {file: " + npy(64) + ", tensor: v}}";
  EXPECT_EQ(parse_error(job(line)),
            error_at(line, "v}",
                     "analyses[0].direction.tensor: a .npy file holds one array: "
                     "name no tensor"));

  line = "  - {name: s, kind: steering, direction: {file: " + st +
         ", mean_difference: [clean, corrupted]}}";
  EXPECT_EQ(parse_error(job(line)),
            error_at(line, st,
                     "analyses[0].direction: give one of file (and tensor), "
                     "mean_difference or probe"));

  line = "  - {name: s, kind: steering, scales: [1, 2, 1]}";
  EXPECT_EQ(parse_error(job(line)),
            error_at(line, "1]", "analyses[0].scales[2]: scale 1 listed twice"));

  line = "  - {name: s, kind: steering, site: attn.hook_z}";
  EXPECT_EQ(parse_error(job(line)),
            error_at(line, "attn",
                     "analyses[0].site: unknown value \"attn.hook_z\"; expected "
                     "one of hook_resid_pre, hook_resid_mid, hook_resid_post"));
}

// Three labelled prompts (lines 4-6), the analysis on line 8.
std::string labelled_job(const std::string& direction) {
  return std::string(kModel) +
         "prompts:\n"
         "  - {clean: [1, 2, 3], answer: 5, wrong: 6, label: 1}\n"
         "  - {clean: [4, 5, 6], answer: 5, wrong: 6, label: 0}\n"
         "  - {clean: [7, 8, 9], answer: 5, wrong: 6, label: 0}\n"
         "analyses:\n  - {name: s, kind: steering, direction: " +
         direction + "}\n";
}

TEST_F(SteeringKind, DirectionFromTwoLabelledPromptSetsOrTheirProbe) {
  JobSpec spec = parse_job_spec(labelled_job("{mean_difference: {labels: [1, 0]}}"), job_path());
  const auto& mean = spec.analyses.at(0).options_as<SteeringOptions>();
  EXPECT_EQ(mean.labels, (std::vector<double>{1, 0}));
  EXPECT_FALSE(mean.probe);
  EXPECT_TRUE(mean.mean_difference.empty());
  EXPECT_EQ(canonical_json(spec)["analyses"][0]["options"]["direction"].dump(),
            R"({"mean_difference":{"labels":[1,0]}})");

  spec = parse_job_spec(labelled_job("{probe: {labels: [0, 1], l2: 0.5}}"), job_path());
  const auto& probe = spec.analyses.at(0).options_as<SteeringOptions>();
  EXPECT_TRUE(probe.probe);
  EXPECT_EQ(probe.probe_l2, 0.5);
  EXPECT_EQ(probe.labels, (std::vector<double>{0, 1}));
  EXPECT_EQ(canonical_json(spec)["analyses"][0]["options"]["direction"].dump(),
            R"({"probe":{"l2":0.5,"labels":[0,1]}})");
}

TEST_F(SteeringKind, LabelledSetRefusalsNameFileLineColumnAndField) {
  const auto error = [](const std::string& direction, const std::string& value,
                        const std::string& reason) {
    const std::string line = "  - {name: s, kind: steering, direction: " + direction + "}";
    return at(8, static_cast<int>(line.find(value)) + 1, reason);
  };
  std::string d = "{mean_difference: {labels: [1, 2]}}";
  EXPECT_EQ(
      parse_error(labelled_job(d)),
      error(d, "[1, 2]", "analyses[0].direction.mean_difference.labels: no prompt has label 2"));
  d = "{probe: {labels: [1, 1]}}";
  EXPECT_EQ(parse_error(labelled_job(d)),
            error(d, "[1, 1]",
                  "analyses[0].direction.probe.labels: expected two different prompt labels: "
                  "[plus, minus]"));
  d = "{probe: {l2: 1}}";
  EXPECT_EQ(parse_error(labelled_job(d)),
            error(d, "{l2",
                  "analyses[0].direction.probe: missing \"labels\" (two prompt labels, "
                  "e.g. [1, 0])"));
  d = "{probe: {labels: [1, 0]}, file: v.npy}";
  EXPECT_EQ(parse_error(labelled_job(d)),
            error(d, "v.npy",
                  "analyses[0].direction: give one of file (and tensor), mean_difference or "
                  "probe"));
}

}  // namespace
}  // namespace csweep::jobs::testing
