#include "report/feature_search.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>

#include "common/error.h"
#include "model/sae_activation_bins.h"
#include "report/html_report.h"
#include "report/text.h"

namespace csweep::report {
namespace {

namespace bins = model::sae_bins;

// Features listed in report.html (sweep.h5 has them all).
constexpr size_t kMaxHtmlFeatures = 256;

// The index of each quantity on the grid's quantity axis.
struct QuantityIndex {
  int64_t max = -1, argmax = -1, fires = -1;
  std::vector<int64_t> bins;
};

QuantityIndex quantity_index(const AnalysisInput& a) {
  if (a.axes.size() != 2 || a.axes[0].name != "feature" || a.axes[1].name != "quantity")
    throw error_at(a.name, "axes", "a feature search has the grid [feature, quantity]");
  const AxisInfo& q = a.axes[1];
  auto find = [&](const std::string& label) -> int64_t {
    for (int64_t i = 0; i < static_cast<int64_t>(q.labels.size()); ++i)
      if (q.labels[i] == label) return i;
    std::string why = "no \"";
    why += label;
    why += "\" entry";
    throw error_at(a.name, "quantity", why);
  };
  QuantityIndex out{find("max"), find("argmax"), find("fires"), {}};
  for (int i = 0; i < bins::kBins; ++i) out.bins.push_back(find(bins::bin_name(i)));
  return out;
}

std::string feature_number(double v, const char* format = "%.4g") {
  if (std::isnan(v)) return "nan";
  char buf[32];
  std::snprintf(buf, sizeof buf, format, v);
  return buf;
}

// A context's token as text: its string, or "<id>" without a tokenizer.
std::string token_at(const PromptInfo& p, int64_t position) {
  if (position < 0) return "";
  const auto i = static_cast<size_t>(position);
  if (i < p.tokens.size()) return valid_utf8(p.tokens[i]);
  std::string id;
  if (i < p.clean_ids.size()) id += '<', id += std::to_string(p.clean_ids[i]), id += '>';
  return id;
}

// The context's tokens as text, the activating one marked [[so]] (sweep.h5's top_context).
std::string marked_context(const PromptInfo& p, int64_t position) {
  std::string out;
  const auto n = static_cast<int64_t>(std::max(p.tokens.size(), p.clean_ids.size()));
  for (int64_t i = 0; i < n; ++i) {
    if (i == position) out += "[[";
    out += token_at(p, i);
    if (i == position) out += "]]";
  }
  return out;
}

}  // namespace

FeatureSearch feature_search(const ReduceInput& input, const AnalysisInput& a, int64_t top_k) {
  const QuantityIndex qi = quantity_index(a);
  const AxisInfo& features = a.axes[0];
  const int64_t n_q = a.axes[1].size, n_f = features.size, n_bins = bins::kBins;
  FeatureSearch s;
  s.bins = n_bins;
  s.top_k = std::max<int64_t>(top_k, 0);
  s.contexts.assign(n_f, 0), s.tokens.assign(n_f, 0), s.fires.assign(n_f, 0);
  s.density.assign(n_f, std::numeric_limits<double>::quiet_NaN());
  s.histogram.assign(n_f * n_bins, 0);
  s.top.resize(n_f);
  for (int64_t f = 0; f < n_f; ++f) {
    s.features.push_back(features.value(f));
    const int64_t row = f * n_q;
    auto& top = s.top[f];
    for (size_t p = 0; p < a.values.size(); ++p) {
      const auto& done = a.done[p];
      const auto& v = a.values[p];
      // A context counts once every cell of the feature is durable.
      bool all = true;
      for (int64_t q = 0; q < n_q; ++q) all = all && done[row + q];
      if (!all) continue;
      ++s.contexts[f];
      s.tokens[f] +=
          p < input.prompts.size() ? static_cast<int64_t>(input.prompts[p].clean_ids.size()) : 0;
      s.fires[f] += static_cast<int64_t>(v[row + qi.fires]);
      for (int64_t b = 0; b < n_bins; ++b)
        s.histogram[f * n_bins + b] += static_cast<int64_t>(v[row + qi.bins[b]]);
      const float max = v[row + qi.max];
      if (max > 0.0f)
        top.push_back({static_cast<int64_t>(p), max, static_cast<int64_t>(v[row + qi.argmax])});
    }
    // Largest first, ties by context order: the same list for any number of ranks.
    const auto k = static_cast<size_t>(s.top_k);
    auto before = [](const FeatureSearch::Top& x, const FeatureSearch::Top& y) {
      return x.activation != y.activation ? x.activation > y.activation : x.prompt < y.prompt;
    };
    if (top.size() > k) {
      std::partial_sort(top.begin(), top.begin() + static_cast<std::ptrdiff_t>(k), top.end(),
                        before);
      top.resize(k);
    } else {
      std::sort(top.begin(), top.end(), before);
    }
    if (s.tokens[f] > 0) s.density[f] = static_cast<double>(s.fires[f]) / s.tokens[f];
  }
  return s;
}

void write_feature_search_h5(const h5::Writer& w, hid_t analysis_group, const ReduceInput& input,
                             const FeatureSearch& s) {
  h5::Handle g = w.group(analysis_group, "feature_search");
  const auto n_f = static_cast<hsize_t>(s.features.size());
  // At least one (padded) column: top_k 0 still writes a table h5py can read.
  const auto k = static_cast<size_t>(std::max<int64_t>(s.top_k, 1));
  const auto hk = static_cast<hsize_t>(k), hb = static_cast<hsize_t>(s.bins);

  h5::Handle feature = w.int64s(g, "feature", {n_f}, s.features.data());
  w.make_scale(feature, "feature");
  std::vector<int64_t> rank_values(k), bin_values(static_cast<size_t>(s.bins));
  for (size_t i = 0; i < k; ++i) rank_values[i] = static_cast<int64_t>(i);
  std::vector<double> lower, upper;
  for (int b = 0; b < s.bins; ++b) {
    bin_values[static_cast<size_t>(b)] = b;
    lower.push_back(bins::lower_edge(b));
    upper.push_back(bins::lower_edge(b + 1));
  }
  h5::Handle rank = w.int64s(g, "rank", {hk}, rank_values.data());
  w.make_scale(rank, "rank");
  h5::Handle bin = w.int64s(g, "bin", {hb}, bin_values.data());
  w.make_scale(bin, "bin");
  auto per_feature = [&](h5::Handle ds) { w.attach(ds, feature, 0, "feature"); };
  auto per_bin = [&](h5::Handle ds) { w.attach(ds, bin, 0, "bin"); };
  auto per_top = [&](h5::Handle ds) {
    w.attach(ds, feature, 0, "feature");
    w.attach(ds, rank, 1, "rank");
  };
  per_bin(w.doubles(g, "bin_lower", {hb}, lower.data()));
  per_bin(w.doubles(g, "bin_upper", {hb}, upper.data()));
  per_feature(w.int64s(g, "contexts", {n_f}, s.contexts.data()));
  per_feature(w.int64s(g, "tokens", {n_f}, s.tokens.data()));
  per_feature(w.int64s(g, "fires", {n_f}, s.fires.data()));
  per_feature(w.doubles(g, "density", {n_f}, s.density.data()));
  h5::Handle hist = w.int64s(g, "histogram", {n_f, hb}, s.histogram.data());
  w.attach(hist, feature, 0, "feature");
  w.attach(hist, bin, 1, "bin");

  std::vector<int64_t> prompt(n_f * k, -1), position(n_f * k, -1);
  std::vector<float> activation(n_f * k, std::numeric_limits<float>::quiet_NaN());
  std::vector<std::string> ids(n_f * k), token(n_f * k), context(n_f * k);
  for (size_t f = 0; f < s.top.size(); ++f)
    for (size_t r = 0; r < s.top[f].size(); ++r) {
      const auto& t = s.top[f][r];
      const size_t i = f * k + r;
      prompt[i] = t.prompt, position[i] = t.position, activation[i] = t.activation;
      if (t.prompt < 0 || static_cast<size_t>(t.prompt) >= input.prompts.size()) continue;
      const PromptInfo& p = input.prompts[static_cast<size_t>(t.prompt)];
      ids[i] = p.id, token[i] = token_at(p, t.position), context[i] = marked_context(p, t.position);
    }
  per_top(w.int64s(g, "top_prompt", {n_f, hk}, prompt.data()));
  per_top(w.strings(g, "top_context_id", {n_f, hk}, ids));
  per_top(w.floats(g, "top_activation", {n_f, hk}, activation.data()));
  per_top(w.int64s(g, "top_position", {n_f, hk}, position.data()));
  per_top(w.strings(g, "top_token", {n_f, hk}, token));
  per_top(w.strings(g, "top_context", {n_f, hk}, context));
  w.attr(g, "top_k", static_cast<int64_t>(k));
  w.attr(g, "definition",
         std::string("per feature, over the contexts whose cells are all done: top_* the k "
                     "contexts of largest max activation (ties: earlier context first; "
                     "top_prompt -1 and NaN past the contexts where it fires), the activating "
                     "token marked [[so]] in top_context; histogram: firing tokens per "
                     "[bin_lower, bin_upper); density = fires / tokens"));
}

void write_feature_search_html(std::ostream& o, const ReduceInput& input, const FeatureSearch& s) {
  auto e = [](const std::string& t) { return html_escape(valid_utf8(t)); };
  size_t firing = 0;
  for (int64_t f : s.fires) firing += f > 0;
  o << "<h3>Feature search</h3>\n<p>" << firing << " of " << s.features.size()
    << " features fire in the corpus. Per feature: its firing density (firing tokens / tokens), "
       "its activation histogram (firing tokens per bin, bins [2<sup>i</sup>, 2<sup>i+1</sup>)) "
       "and the contexts where it activates most, the activating token highlighted. "
       "sweep.h5 has every feature under <code>feature_search/</code>.</p>\n";
  if (firing > kMaxHtmlFeatures)
    o << "<p>The first " << kMaxHtmlFeatures << " firing features are listed.</p>\n";
  o << "<table><tr><th>feature</th><th>density</th><th>histogram</th><th>top contexts</th></tr>\n";
  size_t listed = 0;
  for (size_t f = 0; f < s.features.size() && listed < kMaxHtmlFeatures; ++f) {
    if (s.fires[f] <= 0) continue;
    ++listed;
    o << "<tr><td class=\"num\">" << s.features[f] << "</td><td class=\"num\">"
      << feature_number(s.density[f]) << "<br>" << s.fires[f] << " / " << s.tokens[f]
      << "</td><td>";
    int64_t peak = 1;
    for (int64_t b = 0; b < s.bins; ++b) peak = std::max(peak, s.histogram[f * s.bins + b]);
    for (int64_t b = 0; b < s.bins; ++b) {
      const int64_t count = s.histogram[f * s.bins + b];
      const int height = static_cast<int>(std::lround(30.0 * count / peak));
      o << "<span title=\"[" << feature_number(bins::lower_edge(static_cast<int>(b))) << ", "
        << feature_number(bins::lower_edge(static_cast<int>(b) + 1)) << "): " << count
        << "\" style=\"display:inline-block;width:6px;margin-right:1px;vertical-align:bottom;"
           "background:#5b8bd0;height:"
        << std::max(height, count > 0 ? 1 : 0) << "px\"></span>";
    }
    o << "</td><td>";
    for (const auto& t : s.top[f]) {
      const PromptInfo* p = t.prompt >= 0 && static_cast<size_t>(t.prompt) < input.prompts.size()
                                ? &input.prompts[static_cast<size_t>(t.prompt)]
                                : nullptr;
      o << "<div><span class=\"num\">" << feature_number(t.activation, "%.3f") << "</span> "
        << (p ? e(p->id) : std::string("?")) << ": ";
      const size_t n = p ? std::max(p->tokens.size(), p->clean_ids.size()) : 0;
      for (size_t i = 0; i < n; ++i) {
        const bool hit = static_cast<int64_t>(i) == t.position;
        o << "<span class=\"tok\"" << (hit ? " style=\"background:#ffcf4d;font-weight:bold\"" : "")
          << " title=\"pos " << i << "\">"
          << e(display_token(token_at(*p, static_cast<int64_t>(i)))) << "</span>";
      }
      o << "</div>";
    }
    o << "</td></tr>\n";
  }
  o << "</table>\n";
}

}  // namespace csweep::report
