// csweep plan JOB.yaml [--ranks N] [--json] [--measure]: the dry run. Loads and validates the
// job, makes the plan (units → shards, cost, memory) and the rank layout, and estimates the
// wall time — from an assumed GFLOP/s, or from one forward timed on this machine (--measure).
// The JSON form is documented in docs/plan-json.md.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <iostream>

#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>
#include <nlohmann/json.hpp>

#include "apps/command.h"
#include "common/error.h"
#include "common/host_memory.h"
#include "common/human_bytes.h"
#include "jobs/job_spec.h"
#include "model/checkpoint_shapes.h"
#include "model/config.h"
#include "model/model.h"
#include "model/tensor_io.h"
#include "model/weight_dtype.h"
#include "orchestrator/stages.h"
#include "sharding/cost_model.h"
#include "sharding/memory_fit.h"
#include "sharding/plan.h"
#include "store/provenance.h"

namespace {

using csweep::human_bytes;
using csweep::jobs::JobSpec;
using csweep::sharding::Plan;
using csweep::sharding::RankLayout;

// Sustained GFLOP/s of one worker group when not measured: a forward of small batches reaches
// about half of the GEMM peak (see docs/plan-json.md for where these come from).
double assumed_gflops(const JobSpec& spec) {
  if (spec.model.device.rfind("cuda", 0) == 0) return 20000.0;
  return spec.model.dtype == "float32" ? 50.0 : 150.0;
}

// Times the forward the sweep repeats most: the largest batch of the first prompt's length,
// last-position logits only. Returns GFLOP/s of the cost model's FLOPs per second.
double measure_gflops(const JobSpec& spec, const Plan& plan,
                      const csweep::model::ModelConfig& config) {
  csweep::model::LoadOptions options;
  options.dtype =
      csweep::model::scalar_type(csweep::model::weight_dtype(spec.model.dtype, "model.dtype"));
  options.device = c10::Device(spec.model.device);
  auto model = csweep::model::Model::load(spec.model.path, options);
  const auto& prompt = spec.prompts.front();
  const int64_t rows = std::max<int64_t>(1, plan.batch_size);
  at::Tensor tokens =
      at::tensor(prompt.clean, at::kLong).unsqueeze(0).repeat({rows, 1}).to(options.device);
  csweep::model::ForwardOptions fwd;
  fwd.logits = csweep::model::ForwardOptions::Logits::Last;
  at::NoGradGuard no_grad;
  double best = 1e30;
  for (int i = 0; i < 3; ++i) {  // the first call builds per-length tables and warms caches
    auto t0 = std::chrono::steady_clock::now();
    at::Tensor logits = model->forward(tokens, nullptr, fwd);
    logits.sum().item<float>();  // waits for asynchronous devices
    double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (i > 0) best = std::min(best, s);
  }
  double flops = csweep::sharding::forward_flops(config, prompt.n_tokens(), 0, rows);
  return flops / best / 1e9;
}

std::string human_seconds(double s) {
  char buf[48];
  if (s < 120)
    std::snprintf(buf, sizeof buf, "%.3g s", s);
  else if (s < 7200)
    std::snprintf(buf, sizeof buf, "%.1f min", s / 60);
  else
    std::snprintf(buf, sizeof buf, "%.1f h", s / 3600);
  return buf;
}

nlohmann::json plan_json(const JobSpec& spec, const csweep::model::ModelConfig& c, const Plan& plan,
                         const RankLayout& layout, const csweep::sharding::MemoryLimit& limit,
                         double gflops, bool measured, bool with_shards) {
  using nlohmann::json;
  int64_t min_tokens = INT64_MAX, max_tokens = 0;
  for (const auto& p : spec.prompts) {
    min_tokens = std::min(min_tokens, p.n_tokens());
    max_tokens = std::max(max_tokens, p.n_tokens());
  }
  json analyses = json::array();
  const std::vector<int> levels = csweep::orchestrator::stage_levels(spec);
  for (const auto& g : plan.grids) {
    json axes = json::array();
    for (const auto& a : g.axes)
      axes.push_back({{"name", a.name}, {"size", a.size}, {"labels", a.labels}});
    int64_t shards = 0, units = 0;
    double flops = 0;
    for (const auto& s : plan.shards)
      if (s.analysis == g.analysis) {
        ++shards;
        units += s.cells();  // a whole-prompt-set kind's cells once, not once per prompt
        flops += s.flops;
      }
    // Model passes: one row per patched cell, plus the prompts' own runs (clean, corrupted, ...).
    const int64_t prompts_run =
        g.kind->whole_prompt_set ? 1 : static_cast<int64_t>(spec.prompts.size());
    const auto forwards = [&](int64_t cells) {
      return (g.cost.per_cell_forward ? cells * g.cost.rows_per_cell : 0) +
             static_cast<int64_t>(g.cost.prompt_forwards * static_cast<double>(prompts_run));
    };
    json a{{"index", g.analysis},
           {"name", g.name},
           {"kind", csweep::jobs::kind_name(g.kind)},
           {"axes", axes},
           {"cells_per_prompt", g.cells()},
           {"units", units},
           {"shards", shards},
           {"flops", flops},
           {"forwards", forwards(units)},
           {"seconds", flops / (gflops * 1e9) / std::max<size_t>(1, layout.groups.size())},
           {"level", levels.at(g.analysis)}};
    if (const auto& st = spec.analyses[g.analysis].stage) {
      // The count is exact; FLOPs and seconds are upper bounds (every chosen cell's forward is
      // costed from layer 0: which layers the cells are at is known only at run time).
      const auto& mine = spec.analyses[g.analysis];
      int64_t every = 1;
      for (const auto& ax : mine.kind->grid(mine)) every *= ax.size;
      a["stage"] = {{"from", st->from},
                    {"top_k", st->top_k},
                    {"plus_random", st->plus_random},
                    {"seed", st->seed},
                    {"ranked_cells", st->source_cells},
                    {"flops_upper_bound", true},
                    {"exhaustive_cells_per_prompt", every},
                    {"exhaustive_forwards", forwards(every * prompts_run)}};
      if (st->ranked_list) {  // a circuit of the top_k: its own grid, nothing to compare with
        a["stage"]["ranked_list"] = true;
        a["stage"].erase("exhaustive_cells_per_prompt");
        a["stage"].erase("exhaustive_forwards");
      }
    }
    analyses.push_back(a);
  }
  const int tp = layout.tensor_parallel;
  const csweep::sharding::RankMemory per_rank = csweep::sharding::rank_memory(plan, tp);
  json j = {
      {"format", "csweep-plan"},
      {"version", 1},
      {"job",
       {{"file", spec.file.string()},
        {"name", spec.name},
        {"hash", csweep::jobs::canonical_hash(
                     spec, csweep::store::model_content_hash(
                               csweep::store::hash_model_files(spec.model.path)))}}},
      {"model",
       {{"path", spec.model.path.string()},
        {"arch", csweep::model::arch_name(c.arch)},
        {"n_layers", c.n_layers},
        {"d_model", c.d_model},
        {"n_heads", c.n_heads},
        {"n_kv_heads", c.n_kv_heads},
        {"d_head", c.d_head},
        {"d_mlp", c.d_mlp},
        {"d_vocab", c.d_vocab},
        {"dtype", spec.model.dtype},
        {"device", spec.model.device},
        {"tensor_parallel", tp},
        {"weight_bytes", plan.weight_bytes}}},
      {"prompts",
       {{"count", spec.prompts.size()}, {"min_tokens", min_tokens}, {"max_tokens", max_tokens}}},
      {"analyses", analyses},
      {"totals",
       {{"units", plan.total_cells()},
        {"shards", plan.shards.size()},
        {"stage_levels", levels.empty() ? 1 : *std::max_element(levels.begin(), levels.end()) + 1},
        {"flops", plan.total_flops()},
        {"result_bytes", plan.total_result_bytes()}}},
      {"memory",
       {{"weight_bytes_per_rank", per_rank.weights},
        {"max_activation_bytes", per_rank.activations},
        {"per_rank_bytes", per_rank.total()},
        {"limit_per_rank_bytes", limit.bytes},
        {"limit_source", limit.source},
        {"batch_rows", plan.batch_size},
        {"memory_budget_bytes", spec.sharding.memory_budget_bytes}}},
      {"ranks",
       {{"n_ranks", layout.n_ranks},
        {"tensor_parallel", tp},
        {"tensor_parallel_auto", spec.model.tensor_parallel == 0},
        {"coordinator", layout.coordinator},
        {"worker_groups", layout.groups}}},
      {"estimate",
       {{"gflops_per_group", gflops},
        {"source", measured ? "measured" : "assumed"},
        {"seconds", csweep::sharding::estimate_seconds(plan, layout, gflops)}}},
  };
  if (with_shards) {
    json shards = json::array();
    for (const auto& s : plan.shards)
      shards.push_back({{"id", s.id},
                        {"analysis", s.analysis},
                        {"prompt", s.prompt},
                        {"cell_begin", s.cell_begin},
                        {"cell_end", s.cell_end},
                        {"start_layer", s.start_layer},
                        {"flops", s.flops},
                        {"result_bytes", s.result_bytes},
                        {"memory_bytes", s.memory_bytes}});
    j["shards"] = shards;
  }
  return j;
}

void print_plan_text(const nlohmann::json& j) {
  const auto& m = j["model"];
  std::printf("plan   %s  (%s, hash %s)\n", j["job"]["file"].get<std::string>().c_str(),
              j["job"]["name"].get<std::string>().c_str(),
              j["job"]["hash"].get<std::string>().substr(0, 16).c_str());
  std::printf(
      "model  %s: %lld layers, d_model %lld, %lld heads, d_mlp %lld, vocab %lld; %s on %s, weights "
      "%s\n",
      m["arch"].get<std::string>().c_str(), (long long)m["n_layers"], (long long)m["d_model"],
      (long long)m["n_heads"], (long long)m["d_mlp"], (long long)m["d_vocab"],
      m["dtype"].get<std::string>().c_str(), m["device"].get<std::string>().c_str(),
      human_bytes(m["weight_bytes"].get<double>()).c_str());
  std::printf("prompts %lld (%lld-%lld tokens)\n\n", (long long)j["prompts"]["count"],
              (long long)j["prompts"]["min_tokens"], (long long)j["prompts"]["max_tokens"]);
  std::printf("%-24s %-26s %-30s %10s %8s %10s %12s\n", "analysis", "kind", "axes (per prompt)",
              "units", "shards", "forwards", "GFLOP");
  for (const auto& a : j["analyses"]) {
    std::string axes;
    for (const auto& ax : a["axes"])
      axes += (axes.empty() ? "" : " x ") + ax["name"].get<std::string>() + " " +
              std::to_string(ax["size"].get<int64_t>());
    std::printf("%-24s %-26s %-30s %10lld %8lld %10lld %12.4g\n",
                a["name"].get<std::string>().c_str(), a["kind"].get<std::string>().c_str(),
                axes.c_str(), (long long)a["units"], (long long)a["shards"],
                (long long)a["forwards"], a["flops"].get<double>() / 1e9);
  }
  for (const auto& a : j["analyses"]) {
    if (!a.contains("stage")) continue;
    const auto& st = a["stage"];
    if (st.contains("ranked_list")) {
      std::printf(
          "stage   %s after %s: its top %lld cells as a ranked node list -> %lld forwards\n",
          a["name"].get<std::string>().c_str(), st["from"].get<std::string>().c_str(),
          (long long)st["top_k"], (long long)a["forwards"]);
      continue;
    }
    std::printf(
        "stage   %s after %s: top %lld + %lld random of its %lld cells -> %lld forwards "
        "(exhaustive: %lld, %.3gx more); <= %.4g GFLOP, <= %s\n",
        a["name"].get<std::string>().c_str(), st["from"].get<std::string>().c_str(),
        (long long)st["top_k"], (long long)st["plus_random"], (long long)st["ranked_cells"],
        (long long)a["forwards"], (long long)st["exhaustive_forwards"],
        st["exhaustive_forwards"].get<double>() / std::max(1.0, a["forwards"].get<double>()),
        a["flops"].get<double>() / 1e9, human_seconds(a["seconds"].get<double>()).c_str());
  }
  const auto& t = j["totals"];
  if (t["stage_levels"].get<int>() > 1) {  // what `csweep run --level K` runs
    std::string by_level;
    for (int level = 0; level < t["stage_levels"].get<int>(); ++level) {
      by_level += (level ? "; " : "") + std::to_string(level) + ":";
      for (const auto& a : j["analyses"])
        if (a["level"] == level) by_level += " " + a["name"].get<std::string>();
    }
    std::printf("levels  %d (csweep run --level K runs one): %s\n", t["stage_levels"].get<int>(),
                by_level.c_str());
  }
  std::printf("\ntotal   %lld units in %lld shards, %.4g GFLOP, results %s\n",
              (long long)t["units"], (long long)t["shards"], t["flops"].get<double>() / 1e9,
              human_bytes(t["result_bytes"].get<double>()).c_str());
  const auto& mem = j["memory"];
  std::printf("memory  per rank %s = weights %s + activations <= %s (batches of <= %lld rows%s)\n",
              human_bytes(mem["per_rank_bytes"].get<double>()).c_str(),
              human_bytes(mem["weight_bytes_per_rank"].get<double>()).c_str(),
              human_bytes(mem["max_activation_bytes"].get<double>()).c_str(),
              (long long)mem["batch_rows"],
              mem["memory_budget_bytes"].get<uint64_t>()
                  ? (", budget " + human_bytes(mem["memory_budget_bytes"].get<double>())).c_str()
                  : "");
  if (mem["limit_per_rank_bytes"].get<uint64_t>() > 0)
    std::printf("        fits the %s per rank (%s)\n",
                human_bytes(mem["limit_per_rank_bytes"].get<double>()).c_str(),
                mem["limit_source"].get<std::string>().c_str());
  else
    std::printf("        not checked against the device's memory (--mem-per-rank checks it)\n");
  const auto& r = j["ranks"];
  std::string groups;
  for (const auto& g : r["worker_groups"]) {
    std::string one;
    for (const auto& rank : g) one += (one.empty() ? "" : ",") + std::to_string(rank.get<int>());
    groups += " [" + one + "]";
  }
  std::printf("ranks   %d: coordinator rank 0, %zu worker group(s) of %d (tensor parallel%s):%s\n",
              r["n_ranks"].get<int>(), r["worker_groups"].size(), r["tensor_parallel"].get<int>(),
              r["tensor_parallel_auto"].get<bool>() ? ", auto: the smallest split that fits" : "",
              groups.c_str());
  const auto& e = j["estimate"];
  std::printf("time    ~%s at %.4g GFLOP/s per worker group (%s)\n",
              human_seconds(e["seconds"].get<double>()).c_str(),
              e["gflops_per_group"].get<double>(),
              e["source"] == "measured" ? "measured from a timed forward"
                                        : "assumed; --measure times a forward here");
}

struct PlanArgs {
  std::string job;
  int ranks = 1;
  std::string mem_per_rank;
  bool json = false, measure = false, shards = false;
  double gflops = 0;
};

const csweep::apps::CommandRegistration plan_command{
    "plan", "dry run: units, shards, FLOPs, memory per rank, TP layout, estimated time",
    [](CLI::App& sub) {
      auto args = std::make_shared<PlanArgs>();
      sub.add_option("job", args->job, "job file (YAML)")->required();
      sub.add_option("--ranks", args->ranks,
                     "MPI ranks the sweep would run on (rank 0 coordinates)");
      sub.add_flag("--json", args->json, "print the plan as JSON (docs/plan-json.md)");
      sub.add_flag("--measure", args->measure,
                   "time one forward of the model here for the estimate");
      sub.add_flag("--shards", args->shards, "with --json: list every shard");
      sub.add_option("--gflops", args->gflops,
                     "assumed GFLOP/s per worker group (default by device and dtype)");
      sub.add_option("--mem-per-rank", args->mem_per_rank,
                     "memory one rank may use (16GiB, 4000MB); a plan that needs more is refused "
                     "(default: this host's memory / --ranks, for a CPU device)");
      return [args]() {
        JobSpec spec = csweep::jobs::load_job_spec(args->job);
        auto config = csweep::model::load_model_config(spec.model.path);
        csweep::model::check_checkpoint_shapes(spec.model.path, config);
        Plan plan = csweep::sharding::make_plan(spec, config);
        const auto limit = csweep::sharding::memory_limit(
            args->mem_per_rank.empty() ? 0
                                       : csweep::sharding::parse_mem_per_rank(args->mem_per_rank),
            spec.model.device, args->ranks, csweep::host_memory_bytes());
        const int tp =
            csweep::sharding::choose_tensor_parallel(spec, config, plan, args->ranks, limit);
        RankLayout layout = csweep::sharding::layout_ranks(plan, args->ranks, tp);
        csweep::sharding::check_memory_fits(spec, plan, tp, limit);
        double gflops = args->gflops > 0 ? args->gflops : assumed_gflops(spec);
        if (args->measure) gflops = measure_gflops(spec, plan, config);
        auto j = plan_json(spec, config, plan, layout, limit, gflops, args->measure, args->shards);
        if (args->json)
          std::cout << j.dump(2) << "\n";
        else
          print_plan_text(j);
        return 0;
      };
    }};

}  // namespace
