#include "report/stage_summary.h"

#include <cmath>
#include <cstdio>

#include "report/html_report.h"

namespace csweep::report {
namespace {

// The mean over prompts of value - reference (the corrupted run for patching, the clean run
// for ablation) at one cell; NaN when no prompt has it.
double mean_effect(const AnalysisInput& a, int64_t cell) {
  double sum = 0.0;
  int64_t n = 0;
  for (size_t p = 0; p < a.values.size(); ++p) {
    if (!a.done[p][cell]) continue;
    const auto& base =
        a.reference == AnalysisInput::Reference::Clean ? a.clean_baseline : a.corrupted_baseline;
    const double ref = p < base.size() && base[p] ? *base[p] : 0.0;
    sum += a.values[p][cell] - ref;
    ++n;
  }
  return n ? sum / static_cast<double>(n) : NAN;
}

std::string number(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.4g", v);
  return buf;
}

}  // namespace

bool is_stage(const AnalysisInput& a) { return !a.stage_source.empty() && !a.stage_scores.empty(); }

StageSummary stage_summary(const AnalysisInput& a) {
  StageSummary s;
  const int64_t chosen = static_cast<int64_t>(a.stage_scores.size());
  const int64_t per = a.cells() / chosen;
  const std::vector<std::string>& labels = a.axes.at(0).labels;
  s.threshold = INFINITY;
  for (int64_t k = 0; k < chosen; ++k) {
    int64_t best = k * per;  // the chosen cell's strongest stage cell
    for (int64_t c = k * per; c < (k + 1) * per; ++c) {
      const double e = mean_effect(a, c), b = mean_effect(a, best);
      if (!std::isnan(e) && (std::isnan(b) || std::fabs(e) > std::fabs(b))) best = c;
    }
    s.labels.push_back(best < static_cast<int64_t>(labels.size()) ? labels[best]
                                                                  : std::to_string(best));
    s.estimate.push_back(a.stage_scores[k]);
    s.exact.push_back(mean_effect(a, best));
    if (k < a.stage_top_k && !std::isnan(s.exact.back()))
      s.threshold = std::min(s.threshold, std::fabs(s.exact.back()));
  }
  for (int64_t k = a.stage_top_k; k < chosen; ++k) {
    if (std::isnan(s.exact[k])) continue;
    ++s.random;
    s.random_above += std::fabs(s.exact[k]) >= s.threshold ? 1 : 0;
  }
  if (s.random > 0)
    s.false_negatives = static_cast<double>(s.random_above) / static_cast<double>(s.random) *
                        static_cast<double>(a.stage_ranked - a.stage_top_k);
  return s;
}

void write_stage_h5(const h5::Writer& w, hid_t group, const AnalysisInput& a) {
  const StageSummary s = stage_summary(a);
  h5::Handle g = w.group(group, "stage");
  const hsize_t n = s.labels.size();
  w.strings(g, "chosen", {n}, s.labels);
  w.doubles(g, "estimate", {n}, s.estimate.data());
  w.doubles(g, "exact", {n}, s.exact.data());
  w.attr(g, "source", a.stage_source);
  w.attr(g, "ranked", a.stage_ranked);
  w.attr(g, "top_k", a.stage_top_k);
  w.attr(g, "threshold", s.threshold);
  w.attr(g, "random", s.random);
  w.attr(g, "random_above_threshold", s.random_above);
  w.attr(g, "false_negatives_estimate", s.false_negatives);
}

void write_stage_html(std::ostream& o, const AnalysisInput& a) {
  const StageSummary s = stage_summary(a);
  const auto e = [](const std::string& t) { return html_escape(t); };
  o << "<h3>Stage: cells chosen from " << e(a.stage_source) << "</h3>\n<p>The top " << a.stage_top_k
    << " of " << a.stage_ranked << " cells by the source's |mean effect|";
  if (s.random > 0)
    o << ", and " << s.random << " drawn at random from the rest: " << s.random_above
      << " of those reach the weakest top cell's exact |effect| (" << number(s.threshold)
      << "), so about " << number(s.false_negatives) << " strong cells were missed";
  o << ".</p>\n<table><tr><th>cell</th><th>estimate (" << e(a.stage_source)
    << ")</th><th>exact</th></tr>\n";
  for (size_t k = 0; k < s.labels.size(); ++k)
    o << "<tr><td>" << e(s.labels[k])
      << (static_cast<int64_t>(k) < a.stage_top_k ? "" : " (random)") << "</td><td>"
      << number(s.estimate[k]) << "</td><td>" << number(s.exact[k]) << "</td></tr>\n";
  o << "</table>\n";
}

}  // namespace csweep::report
