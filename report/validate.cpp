#include "report/validate.h"

#include <cmath>
#include <cstdio>
#include <limits>

#include <hdf5.h>

#include "common/error.h"
#include "report/h5_write.h"

namespace fs = std::filesystem;

namespace csweep::report {
namespace {

std::string assertion_number(double x) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.6g", x);
  return buf;
}

// The baseline's mean of one analysis, or a reason why it has none.
struct BaselineMean {
  std::vector<float> values;
  std::vector<hsize_t> dims;
  std::string missing;  // non-empty: the baseline has no such dataset
};

BaselineMean read_baseline_mean(const fs::path& file, const std::string& analysis) {
  if (!fs::is_regular_file(file)) throw error_at(file.string(), "baseline", "no such file");
  H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);  // errors become csweep::Error, not HDF5 dumps
  h5::Handle f(H5Fopen(file.string().c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), H5Fclose);
  if (!f.valid())
    throw error_at(file.string(), "baseline",
                   "not an HDF5 file (expected a sweep.h5 from csweep reduce)");
  BaselineMean out;
  const std::string path = "/analyses/" + analysis + "/mean";
  if (H5Lexists(f, "/analyses", H5P_DEFAULT) <= 0)
    throw error_at(file.string(), "/analyses", "missing: not a sweep.h5 written by csweep reduce");
  if (H5Lexists(f, ("/analyses/" + analysis).c_str(), H5P_DEFAULT) <= 0 ||
      H5Lexists(f, path.c_str(), H5P_DEFAULT) <= 0) {
    out.missing = "baseline has no " + path;
    return out;
  }
  h5::Handle d(H5Dopen2(f, path.c_str(), H5P_DEFAULT), H5Dclose);
  h5::Handle space(H5Dget_space(d), H5Sclose);
  const int rank = H5Sget_simple_extent_ndims(space);
  if (!d.valid() || !space.valid() || rank < 0)
    throw error_at(file.string(), path, "unreadable dataset");
  out.dims.resize(rank);
  H5Sget_simple_extent_dims(space, out.dims.data(), nullptr);
  hsize_t n = 1;
  for (hsize_t x : out.dims) n *= x;
  out.values.resize(n);
  if (n > 0 && H5Dread(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, out.values.data()) < 0)
    throw error_at(file.string(), path, "cannot read as float");
  return out;
}

std::string shape(const std::vector<int64_t>& dims) {
  std::string s = "[";
  for (size_t i = 0; i < dims.size(); ++i) s += (i ? ", " : "") + std::to_string(dims[i]);
  return s + "]";
}

int find_axis(const AnalysisInput& a, const std::string& name) {
  for (size_t i = 0; i < a.axes.size(); ++i)
    if (a.axes[i].name == name || (name == "pos" && a.axes[i].is_position()))
      return static_cast<int>(i);
  return -1;
}

// The entry of axis `ax` whose model index is `value`; throws naming the field when absent.
int64_t entry_of(const AnalysisInput& a, int ax, int64_t value, const std::string& where,
                 const std::string& field) {
  const AxisInfo& axis = a.axes[ax];
  for (int64_t i = 0; i < axis.size; ++i)
    if (axis.value(i) == value) return i;
  throw error_at(
      where, field,
      std::to_string(value) + " is not on analysis '" + a.name + "''s " + axis.name + " axis");
}

// The assertion's index on the layer/head/pos axis, or -1 when it gave none.
int64_t asserted(const jobs::Assertion& s, const std::string& axis) {
  if (axis == "layer") return s.layer;
  if (axis == "head") return s.head;
  return s.position;
}
std::string field_of(const std::string& axis) { return axis == "pos" ? "position" : axis; }

// top_head / top_layer / top_position: groups the grid by the named axes, scores each group
// by its largest |value| (over positions, sites... the other axes) and ranks the asserted group.
// `mean` is the mean, or ablation's effect from the clean run (`what` says which).
Check check_top(const jobs::Assertion& s, const AnalysisInput& a, const std::vector<float>& mean,
                const std::vector<std::string>& by, const std::string& where, Check check,
                const std::string& what) {
  std::vector<int> axes;
  std::vector<int64_t> target;
  for (const auto& name : by) {
    const int ax = find_axis(a, name);
    if (ax < 0)
      throw error_at(where, "expect",
                     s.expect + " needs a " + name + " axis; analysis '" + a.name + "' has none");
    const int64_t want = asserted(s, name);
    if (want < 0) throw error_at(where, field_of(name), "required by " + s.expect);
    axes.push_back(ax);
    target.push_back(entry_of(a, ax, want, where, field_of(name)));
  }
  int64_t groups = 1;
  for (int ax : axes) groups *= a.axes[ax].size;
  std::vector<double> score(groups, -1.0);  // -1: no finite cell in the group
  for (int64_t c = 0; c < static_cast<int64_t>(mean.size()); ++c) {
    if (!std::isfinite(mean[c])) continue;
    const auto idx = unravel(c, a.axes);
    int64_t g = 0;
    for (int ax : axes) g = g * a.axes[ax].size + idx[ax];
    score[g] = std::max(score[g], static_cast<double>(std::fabs(mean[c])));
  }
  int64_t t = 0;
  for (size_t i = 0; i < axes.size(); ++i) t = t * a.axes[axes[i]].size + target[i];
  auto label = [&](int64_t g) {
    std::string out;
    for (int i = static_cast<int>(axes.size()) - 1; i >= 0; --i) {
      const AxisInfo& axis = a.axes[axes[i]];
      const int64_t e = g % axis.size;
      g /= axis.size;
      out = field_of(by[i]) + " " + std::to_string(axis.value(e)) + (out.empty() ? "" : ", ") + out;
    }
    return out;
  };
  int64_t best = 0, above = 0;
  for (int64_t g = 0; g < groups; ++g) {
    if (score[g] > score[best]) best = g;
    if (score[g] > score[t]) ++above;
  }
  const int64_t rank = above + 1;  // ties rank together, in the asserted group's favour
  check.pass = score[t] >= 0 && rank <= s.k;
  check.detail = label(t) + ": max " + what + " " +
                 (score[t] >= 0 ? assertion_number(score[t]) : "none (not computed)") + ", rank " +
                 std::to_string(rank) + " of " + std::to_string(groups) + " (k " +
                 std::to_string(s.k) + "); top is " + label(best) + " at " +
                 assertion_number(score[best]);
  return check;
}

Check check_compare(const jobs::Assertion& s, const AnalysisInput& a,
                    const std::vector<float>& mean, const std::string& where, Check check) {
  std::vector<int64_t> idx(a.axes.size(), 0);
  std::string cell;
  for (size_t ax = 0; ax < a.axes.size(); ++ax) {
    const AxisInfo& axis = a.axes[ax];
    const std::string name = axis.is_position() ? "pos" : axis.name;
    const bool indexed = name == "layer" || name == "head" || name == "pos";
    if (indexed && asserted(s, name) >= 0) {
      idx[ax] = entry_of(a, static_cast<int>(ax), asserted(s, name), where, field_of(name));
    } else if (axis.size != 1) {
      throw error_at(where, indexed ? field_of(name) : "expect",
                     "analysis '" + a.name + "' has " + std::to_string(axis.size) +
                         " entries on its " + axis.name + " axis; " + s.expect + " needs one cell" +
                         (indexed ? "" : " (this axis cannot be chosen)"));
    }
    if (axis.size != 1 || indexed)
      cell +=
          (cell.empty() ? "" : ", ") + field_of(name) + " " + std::to_string(axis.value(idx[ax]));
  }
  for (const char* name : {"layer", "head", "pos"})
    if (asserted(s, name) >= 0 && find_axis(a, name) < 0)
      throw error_at(where, field_of(name),
                     "analysis '" + a.name + "' has no " + std::string(name) + " axis");
  int64_t c = 0;
  for (size_t ax = 0; ax < a.axes.size(); ++ax) c = c * a.axes[ax].size + idx[ax];
  const double m = mean[c];
  const bool greater = s.expect == "greater_than";
  check.pass = std::isfinite(m) && (greater ? m > s.value : m < s.value);
  check.detail = (cell.empty() ? std::string("the cell") : cell) + ": mean " +
                 (std::isfinite(m) ? assertion_number(m) : "NaN (not computed)") +
                 (greater ? " > " : " < ") + assertion_number(s.value) +
                 (check.pass ? "" : " does not hold");
  return check;
}

}  // namespace

Check compare_with_baseline(const fs::path& baseline, const AnalysisInput& analysis,
                            const std::vector<float>& mean, double tolerance) {
  Check check{"baseline " + analysis.name, false, ""};
  const BaselineMean b = read_baseline_mean(baseline, analysis.name);
  if (!b.missing.empty()) {
    check.detail = b.missing;
    return check;
  }
  std::vector<int64_t> want, got(b.dims.begin(), b.dims.end());
  for (const auto& axis : analysis.axes) want.push_back(axis.size);
  if (want != got) {
    check.detail = "shape " + shape(want) + " differs from the baseline's " + shape(got);
    return check;
  }
  // A cell computed on one side only is an infinite difference: it cannot silently pass.
  double worst = 0;
  int64_t worst_cell = -1;
  for (size_t c = 0; c < mean.size(); ++c) {
    const bool fa = std::isfinite(mean[c]), fb = std::isfinite(b.values[c]);
    double d = 0;
    if (fa && fb)
      d = std::fabs(static_cast<double>(mean[c]) - b.values[c]);
    else if (fa != fb)
      d = std::numeric_limits<double>::infinity();
    if (worst_cell < 0 || d > worst) worst = d, worst_cell = static_cast<int64_t>(c);
  }
  check.pass = worst <= tolerance;
  check.detail = "max |mean - baseline| " + assertion_number(worst) +
                 (check.pass ? " <= " : " > ") + "tolerance " + assertion_number(tolerance);
  if (!check.pass && worst_cell >= 0) {
    std::string at;
    const auto idx = unravel(worst_cell, analysis.axes);
    for (size_t i = 0; i < idx.size(); ++i)
      at += (i ? ", " : "") + analysis.axes[i].name + " " + axis_label(analysis.axes[i], idx[i]);
    check.detail += " at " + at + " (" + assertion_number(mean[worst_cell]) + " vs " +
                    assertion_number(b.values[worst_cell]) + ")";
  }
  return check;
}

Check check_assertion(const jobs::Assertion& s, const AnalysisInput& a, const Aggregates& g,
                      const std::string& where) {
  Check check{"assertion " + a.name + " " + s.expect, false, ""};
  // Ablation ranks components by what removing them changes (ablated - clean), as top-k does.
  const bool effect = a.reference == AnalysisInput::Reference::Clean && g.has_effect_baseline;
  const std::vector<float>& rank = effect ? g.effect : g.mean;
  const std::string what = effect ? "|mean - clean baseline|" : "|mean|";
  if (s.expect == "top_head") return check_top(s, a, rank, {"layer", "head"}, where, check, what);
  if (s.expect == "top_layer") return check_top(s, a, rank, {"layer"}, where, check, what);
  if (s.expect == "top_position") return check_top(s, a, rank, {"pos"}, where, check, what);
  if (s.expect == "greater_than" || s.expect == "less_than")
    return check_compare(s, a, g.mean, where, check);
  throw error_at(where, "expect", "unknown '" + s.expect + "'");
}

std::vector<Check> validate_sweep(const ReduceInput& input,
                                  const std::vector<Aggregates>& aggregates,
                                  const ValidateOptions& options) {
  std::vector<Check> checks;
  // A partial store's means cover only some prompts: comparing them would be meaningless.
  Check complete{"complete", true, ""};
  int64_t done = 0, total = 0;
  for (size_t i = 0; i < input.analyses.size(); ++i) {
    done += aggregates[i].cells_done, total += aggregates[i].cells_total;
    if (aggregates[i].cells_done < aggregates[i].cells_total)
      complete.detail += (complete.detail.empty() ? "" : "; ") + input.analyses[i].name + " " +
                         std::to_string(aggregates[i].cells_done) + "/" +
                         std::to_string(aggregates[i].cells_total) + " cells";
  }
  complete.pass = done == total;
  complete.detail =
      complete.pass ? std::to_string(done) + "/" + std::to_string(total) + " cells done"
                    : "store is incomplete: " + complete.detail + " (finish it with csweep run)";
  checks.push_back(complete);

  if (!options.baseline.empty())
    for (size_t i = 0; i < input.analyses.size(); ++i)
      checks.push_back(compare_with_baseline(options.baseline, input.analyses[i],
                                             aggregates[i].mean, options.tolerance));

  for (size_t k = 0; k < options.assertions.size(); ++k) {
    const auto& s = options.assertions[k];
    const std::string where =
        options.spec_file + ": validation.assertions[" + std::to_string(k) + "]";
    size_t i = 0;
    while (i < input.analyses.size() && input.analyses[i].name != s.analysis) ++i;
    if (i == input.analyses.size())
      throw error_at(where, "analysis", "no analysis named '" + s.analysis + "' in the store");
    Check c = check_assertion(s, input.analyses[i], aggregates[i], where);
    c.name = "assertion " + std::to_string(k) + " (" + s.analysis + " " + s.expect + ")";
    checks.push_back(std::move(c));
  }
  return checks;
}

}  // namespace csweep::report
