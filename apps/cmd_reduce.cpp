// csweep reduce STORE [--out DIR] [--top-k K] [--no-html] [--no-patterns] [--json]: turns a store
// (finished, running or interrupted) into STORE/sweep.h5, heatmaps (PNG + SVG) and report.html.
// Reads the fragments only; prints how complete each analysis is and where the outputs are.
#include <iostream>
#include <memory>

#include <nlohmann/json.hpp>

#include "apps/command.h"
#include "apps/reduce_patterns.h"
#include "common/error.h"
#include "report/reduce.h"
#include "report/store_input.h"

namespace {

struct ReduceArgs {
  std::string store;
  std::string out;
  int top_k = -1;  // -1: the job's reduce.top_k
  bool no_html = false;
  bool no_patterns = false;
  bool json = false;
};

int run_reduce(const ReduceArgs& args) {
  namespace fs = std::filesystem;
  if (!fs::is_directory(args.store))
    throw csweep::error_at(args.store, "", "no such store directory");
  const csweep::report::ReduceInput input = csweep::report::load_reduce_input(args.store);
  csweep::report::ReduceOptions options;
  if (args.top_k >= 0) options.top_k = args.top_k;
  options.write_html = !args.no_html;
  if (!args.no_patterns)
    options.attention_patterns = csweep::apps::model_pattern_source(args.store, input);
  const fs::path out_dir = args.out.empty() ? fs::path(args.store) : fs::path(args.out);
  const auto out = csweep::report::reduce(input, out_dir, options);

  if (args.json) {
    nlohmann::json j;
    j["sweep_h5"] = out.sweep_h5.string();
    j["report_html"] = out.report_html.string();
    j["heatmaps"] = nlohmann::json::array();
    for (const auto& p : out.heatmaps) j["heatmaps"].push_back(p.string());
    j["analyses"] = nlohmann::json::array();
    for (const auto& c : out.completeness)
      j["analyses"].push_back({{"name", c.analysis},
                               {"cells_done", c.cells_done},
                               {"cells_total", c.cells_total},
                               {"complete", c.cells_done == c.cells_total}});
    std::cout << j.dump(2) << "\n";
    return 0;
  }
  for (const auto& c : out.completeness) std::cout << c.line() << "\n";
  std::cout << "sweep.h5: " << out.sweep_h5.string() << "\n";
  for (const auto& p : out.heatmaps) std::cout << "heatmap: " << p.string() << "\n";
  if (!out.report_html.empty()) std::cout << "report: " << out.report_html.string() << "\n";
  return 0;
}

const csweep::apps::CommandRegistration reduce_command{
    "reduce", "write STORE/sweep.h5, heatmaps and report.html (works on a partial store)",
    [](CLI::App& sub) {
      auto args = std::make_shared<ReduceArgs>();
      sub.add_option("store", args->store, "store directory")->required();
      sub.add_option("--out", args->out, "output directory (default: the store)");
      sub.add_option("--top-k", args->top_k,
                     "components listed per analysis (default: the job's reduce.top_k, 10)")
          ->check(CLI::NonNegativeNumber);
      sub.add_flag("--no-html", args->no_html, "skip report.html");
      sub.add_flag("--no-patterns", args->no_patterns,
                   "do not load the model for the top heads' attention patterns");
      sub.add_flag("--json", args->json, "print completeness and output paths as JSON");
      return [args]() { return run_reduce(*args); };
    }};

}  // namespace
