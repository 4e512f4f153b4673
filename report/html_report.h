#pragma once
// report.html: one self-contained page (interactive heatmaps drawn by report/report.js, which
// the page inlines; the PNG heatmaps inlined as base64 data URIs; no scripts or styles from
// outside) that opens from disk without a server.
#include <filesystem>
#include <string>
#include <vector>

#include "report/aggregate.h"
#include "report/attention_patterns.h"
#include "report/reduce_input.h"

namespace csweep::report {

struct ReportFigure {
  std::string analysis;  // which analysis it belongs to
  std::string caption;
  std::filesystem::path png;  // inlined into the page
  std::filesystem::path svg;  // linked (relative) for a vector copy
};

void write_html_report(const std::filesystem::path& path, const ReduceInput& input,
                       const std::vector<Aggregates>& aggregates,
                       const std::vector<std::vector<TopComponent>>& top,
                       const std::vector<ReportFigure>& figures,
                       const AttentionPatterns& patterns = {});

std::string html_escape(const std::string& text);
std::string base64_encode(const std::string& bytes);

}  // namespace csweep::report
