#include "report/html_report.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <sstream>

#include "common/error.h"
#include "report/faithfulness.h"
#include "report/feature_search.h"
#include "report/interactive.h"
#include "report/stage_summary.h"
#include "report/text.h"

namespace csweep::report {
namespace {

constexpr size_t kMaxPromptRows = 200;

const char* kStyle = R"(
body { font-family: "DejaVu Sans", Arial, sans-serif; margin: 24px auto; padding: 0 16px; max-width: 1500px; color: #222; }
h1 { font-size: 24px; margin-bottom: 4px; } h2 { font-size: 19px; margin-top: 32px; border-bottom: 1px solid #ccc; }
h3 { font-size: 16px; margin-top: 20px; }
table { border-collapse: collapse; margin: 8px 0; font-size: 13px; }
th, td { border: 1px solid #ddd; padding: 3px 8px; text-align: left; vertical-align: top; }
th { background: #f3f3f3; } td.num { text-align: right; font-family: "DejaVu Sans Mono", monospace; }
.tok { display: inline-block; background: #eef3fb; border: 1px solid #c9d6ea; border-radius: 3px;
       margin: 1px; padding: 0 3px; font-family: "DejaVu Sans Mono", monospace; white-space: pre; }
.tok.diff { background: #fde8d7; border-color: #e6a46e; }
figure { margin: 12px 0; } figure img { max-width: 100%; border: 1px solid #eee; }
figcaption { font-size: 13px; color: #555; }
pre { background: #f7f7f7; border: 1px solid #e3e3e3; padding: 8px; overflow-x: auto; font-size: 12px; }
.meta td:first-child { font-weight: bold; } .partial { color: #a15c00; font-weight: bold; }
)";

std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw error_at(path.string(), "", "cannot read");
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string num(double v) {
  if (std::isnan(v)) return "&ndash;";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.4g", v);
  return buf;
}

std::string percent(int64_t done, int64_t total) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.0f%%", total ? std::floor(100.0 * done / total) : 0.0);
  return buf;
}

std::string e(const std::string& s) { return html_escape(valid_utf8(s)); }

// Token strings as chips, each with its id on hover; `other` (the paired prompt's tokens)
// marks where the two differ.
void write_tokens(std::ostream& o, const std::vector<std::string>& tokens,
                  const std::vector<int64_t>& ids, const std::vector<int64_t>& other,
                  bool positions = true) {
  const size_t n = std::max(tokens.size(), ids.size());
  for (size_t i = 0; i < n; ++i) {
    const bool differs = i < ids.size() && i < other.size() && ids[i] != other[i];
    o << "<span class=\"tok" << (differs ? " diff" : "") << "\"";
    if (i < ids.size())
      o << " title=\"" << (positions ? "pos " + std::to_string(i) + ", " : "") << "id " << ids[i]
        << "\"";
    o << ">" << (i < tokens.size() ? e(display_token(tokens[i])) : std::to_string(ids[i]))
      << "</span>";
  }
}

void write_pairs(std::ostream& o, const PromptInfo& p) {
  auto one = [&](const std::vector<std::string>& tokens, const std::vector<int64_t>& ids,
                 size_t i) {
    write_tokens(
        o, i < tokens.size() ? std::vector<std::string>{tokens[i]} : std::vector<std::string>{},
        i < ids.size() ? std::vector<int64_t>{ids[i]} : std::vector<int64_t>{}, {}, false);
  };
  for (size_t i = 0; i < std::max(p.answer_ids.size(), p.wrong_ids.size()); ++i) {
    o << (i ? "<br>" : "");
    one(p.answer_tokens, p.answer_ids, i);
    o << " vs ";
    one(p.wrong_tokens, p.wrong_ids, i);
  }
}

void write_prompts(std::ostream& o, const ReduceInput& input) {
  const std::string metric = input.metric.empty() ? "metric" : e(input.metric);
  o << "<h2>Prompts (" << input.prompts.size()
    << ")</h2>\n<p>Tokens as TransformerLens's "
       "<code>to_str_tokens</code> shows them (a byte that is no whole character: "
       "<code>&lt;0xE2&gt;</code>); "
       "hover for position and id; corrupted tokens that differ from the clean ones are "
       "marked.</p>\n"
    << "<table><tr><th>id</th><th>clean</th><th>corrupted</th><th>answer vs wrong</th><th>clean "
    << metric << "</th><th>corrupted " << metric << "</th></tr>\n";
  for (size_t i = 0; i < input.prompts.size() && i < kMaxPromptRows; ++i) {
    const auto& p = input.prompts[i];
    o << "<tr><td>" << e(p.id) << "</td><td>";
    if (!p.text.empty()) o << "<div>" << e(p.text) << "</div>";
    write_tokens(o, p.tokens, p.clean_ids, {});
    o << "</td><td>";
    if (!p.corrupted_text.empty()) o << "<div>" << e(p.corrupted_text) << "</div>";
    write_tokens(o, p.corrupted_tokens, p.corrupted_ids, p.clean_ids);
    o << "</td><td>";
    write_pairs(o, p);
    o << "</td><td class=\"num\">" << num(p.clean_metric.value_or(std::nan("")))
      << "</td><td class=\"num\">" << num(p.corrupted_metric.value_or(std::nan("")))
      << "</td></tr>\n";
  }
  o << "</table>\n";
  if (input.prompts.size() > kMaxPromptRows)
    o << "<p>First " << kMaxPromptRows << " prompts shown; all are in sweep.h5 (/prompts).</p>\n";
}

void write_top(std::ostream& o, const AnalysisInput& a, const Aggregates& g,
               const std::vector<TopComponent>& top) {
  o << "<h3>Top " << top.size() << " components by " << e(ranked_by(a, g))
    << "</h3>\n<table><tr><th>#</th><th>component</th><th>effect</th><th>mean " << e(a.metric)
    << "</th><th>sem</th>" << (g.has_fraction ? "<th>" + e(fraction_label(a)) + "</th>" : "")
    << "<th>prompts</th></tr>\n";
  for (size_t i = 0; i < top.size(); ++i) {
    const auto& t = top[i];
    o << "<tr><td class=\"num\">" << i + 1 << "</td><td>" << e(t.label) << "</td><td class=\"num\">"
      << num(t.effect) << "</td><td class=\"num\">" << num(t.mean) << "</td><td class=\"num\">"
      << num(t.sem) << "</td>";
    if (g.has_fraction) o << "<td class=\"num\">" << num(t.fraction_recovered) << "</td>";
    o << "<td class=\"num\">" << t.n_done << "</td></tr>\n";
  }
  o << "</table>\n";
}

// A token-id quantity (logit lens's top token) as text, never a colour: the most common token
// over prompts at each of the other axes' entries (the per-prompt tokens are in sweep.h5).
void write_token_quantities(std::ostream& o, const ReduceInput& input, const AnalysisInput& a,
                            const Aggregates& g) {
  if (a.quantity_axis < 0) return;
  const AxisInfo& axis = a.axes[a.quantity_axis];
  for (int64_t q = 0; q < axis.size && static_cast<size_t>(q) < a.quantities.size(); ++q) {
    if (!a.quantities[q].token_ids) continue;
    o << "<h3>" << e(a.quantities[q].label) << " (most common over prompts)</h3>\n<table>";
    for (int64_t c = 0; c < a.cells(); ++c) {
      const auto index = unravel(c, a.axes);
      if (index[a.quantity_axis] != q) continue;
      std::string where;
      for (size_t i = 0; i < a.axes.size(); ++i)
        if (static_cast<int>(i) != a.quantity_axis)
          where +=
              (where.empty() ? "" : ", ") + a.axes[i].name + " " + axis_label(a.axes[i], index[i]);
      std::string token = "&ndash;";
      if (std::isfinite(g.mean[c])) {
        const auto id = static_cast<int64_t>(g.mean[c]);
        const auto it = input.token_text.find(id);
        token = "<span class=\"tok\" title=\"id " + std::to_string(id) + "\">" +
                e(display_token(it != input.token_text.end() ? it->second : std::to_string(id))) +
                "</span>";
      }
      o << "<tr><td>" << e(where) << "</td><td>" << token << "</td></tr>";
    }
    o << "</table>\n";
  }
}

void write_analysis(std::ostream& o, const ReduceInput& input, const AnalysisInput& a,
                    const Aggregates& g, const std::vector<TopComponent>& top,
                    const std::vector<ReportFigure>& figures,
                    const std::filesystem::path& page_dir) {
  o << "<h2 id=\"" << e(a.name) << "\">" << e(a.name) << "</h2>\n<table class=\"meta\">";
  o << "<tr><td>kind</td><td>" << e(a.kind) << "</td></tr><tr><td>metric</td><td>" << e(a.metric)
    << "</td></tr>";
  o << "<tr><td>axes</td><td>";
  for (size_t i = 0; i < a.axes.size(); ++i)
    o << (i ? " &times; " : "") << e(a.axes[i].name) << " (" << a.axes[i].size << ")";
  o << "</td></tr><tr><td>cells done</td><td"
    << (g.cells_done < g.cells_total ? " class=\"partial\"" : "") << ">" << g.cells_done << " / "
    << g.cells_total << " (" << percent(g.cells_done, g.cells_total) << ")</td></tr>";
  if (!a.clean_baseline.empty() || !a.corrupted_baseline.empty())
    o << "<tr><td>baselines (mean)</td><td>clean " << num(mean_clean_baseline(a)) << ", corrupted "
      << num(mean_corrupted_baseline(a)) << "</td></tr>";
  o << "</table>\n";
  write_interactive_heatmap(o, input, a, g);
  // The files for papers stay: folded under the interactive view.
  o << "<details class=\"csw-static\"><summary>static heatmaps (the PNG and SVG files in "
       "heatmaps/)</summary>\n";
  for (const auto& f : figures) {
    if (f.analysis != a.name) continue;
    const std::string svg = std::filesystem::relative(f.svg, page_dir).generic_string();
    o << "<figure><img alt=\"" << e(f.caption) << "\" src=\"data:image/png;base64,"
      << base64_encode(read_file(f.png)) << "\"><figcaption>" << e(f.caption)
      << " &middot; <a href=\"" << e(svg) << "\">SVG</a></figcaption></figure>\n";
  }
  o << "</details>\n";
  if (is_circuit_analysis(a)) write_faithfulness_html(o, a);
  if (is_stage(a)) write_stage_html(o, a);
  write_token_quantities(o, input, a, g);
  if (a.kind == kFeatureSearchKind)
    write_feature_search_html(o, input, feature_search(input, a, input.top_k));
  write_top(o, a, g, top);
}

}  // namespace

std::string html_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::string base64_encode(const std::string& bytes) {
  static const char* table = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 2 < bytes.size(); i += 3) {
    const uint32_t v = (static_cast<unsigned char>(bytes[i]) << 16) |
                       (static_cast<unsigned char>(bytes[i + 1]) << 8) |
                       static_cast<unsigned char>(bytes[i + 2]);
    out += table[v >> 18], out += table[(v >> 12) & 63], out += table[(v >> 6) & 63],
        out += table[v & 63];
  }
  if (i < bytes.size()) {
    uint32_t v = static_cast<unsigned char>(bytes[i]) << 16;
    if (i + 1 < bytes.size()) v |= static_cast<unsigned char>(bytes[i + 1]) << 8;
    out += table[v >> 18], out += table[(v >> 12) & 63];
    out += i + 1 < bytes.size() ? table[(v >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

void write_html_report(const std::filesystem::path& path, const ReduceInput& input,
                       const std::vector<Aggregates>& aggregates,
                       const std::vector<std::vector<TopComponent>>& top,
                       const std::vector<ReportFigure>& figures,
                       const AttentionPatterns& patterns) {
  std::ostringstream o;
  const std::string name = input.job_name.empty() ? "sweep" : input.job_name;
  o << "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>" << e(name)
    << " &middot; circuitsweep report</title>\n<style>" << kStyle << interactive_style()
    << "</style></head><body>\n";
  o << "<h1>" << e(name) << "</h1>\n<table class=\"meta\"><tr><td>model</td><td>" << e(input.model)
    << "</td></tr><tr><td>spec hash</td><td><code>" << e(input.spec_hash) << "</code></td></tr>"
    << "<tr><td>prompts</td><td>" << input.prompts.size() << "</td></tr></table>\n";

  o << "<h2>Analyses</h2>\n<table><tr><th>analysis</th><th>kind</th><th>metric</th><th>cells "
       "done</th></tr>\n";
  for (size_t i = 0; i < input.analyses.size(); ++i) {
    const auto& a = input.analyses[i];
    const auto& g = aggregates[i];
    o << "<tr><td><a href=\"#" << e(a.name) << "\">" << e(a.name) << "</a></td><td>" << e(a.kind)
      << "</td><td>" << e(a.metric) << "</td><td"
      << (g.cells_done < g.cells_total ? " class=\"partial\"" : "") << ">" << g.cells_done << " / "
      << g.cells_total << " (" << percent(g.cells_done, g.cells_total) << ")</td></tr>\n";
  }
  o << "</table>\n";
  write_prompts(o, input);
  for (size_t i = 0; i < input.analyses.size(); ++i)
    write_analysis(o, input, input.analyses[i], aggregates[i], top[i], figures, path.parent_path());
  if (!patterns.heads.empty()) {
    o << "<h2 id=\"attention-patterns\">Attention patterns of the top heads</h2>\n<p>The heads "
         "ranked at the top of the analyses above, on one prompt: how much each query token "
         "attends to each earlier token (the pattern, after softmax). sweep.h5 has them under "
         "<code>/attention_patterns</code>.</p>\n";
    write_pattern_view(o, patterns);
  }
  o << "<h2>Job spec</h2>\n<pre>" << e(input.spec_yaml) << "</pre>\n";
  o << "<h2>Provenance</h2>\n<pre>"
    << e(input.provenance.dump(2, ' ', false, nlohmann::json::error_handler_t::replace))
    << "</pre>\n";
  o << "<p style=\"color:#888;font-size:12px\">Written by <code>csweep reduce</code>; the numbers "
       "are in "
       "<code>sweep.h5</code> next to this page.</p>\n<script>"
    << report_script() << "</script>\n</body></html>\n";

  const std::filesystem::path tmp = path.string() + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary);
    out << o.str();
    if (!out) throw error_at(tmp.string(), "", "cannot write the report");
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) throw error_at(path.string(), "", "cannot rename " + tmp.string() + ": " + ec.message());
}

}  // namespace csweep::report
