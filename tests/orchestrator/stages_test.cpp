// Stages (`from:`) end to end on the bundled induction model: the coordinator holds a stage's
// shards until its source is done, chooses the cells from the source's values, and the stage
// computes exactly those cells; a kill in the middle of a stage resumes on the same cells; an
// mpirun world chooses and computes the same cells as one process.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <csignal>
#include <cstring>
#include <fstream>
#include <numeric>
#include <set>
#include <thread>

#include <nlohmann/json.hpp>

#include "process.h"
#include "store/baselines.h"
#include "store/reader.h"
#include "store/stage_selection.h"
#include "tests/model/gguf_model.h"
#include "tests/run_command.h"

namespace fs = std::filesystem;
using namespace csweep::testing;
using csweep::store::StoreContents;

namespace {

fs::path stages_dir(const std::string& name) { return fresh_test_dir("orchestrator-stages", name); }

std::string job() { return data_dir() + "/stages.yaml"; }

const csweep::store::AnalysisResults& results(const StoreContents& c, const std::string& name) {
  for (const auto& a : c.analyses)
    if (a.info.name == name) return a;
  throw std::runtime_error("no analysis " + name);
}

StoreContents run_to_end(int np, const fs::path& store) {
  Child c = spawn(run_command(np, {job(), "--store", store.string()}), store.string() + ".log");
  EXPECT_TRUE(wait_for(c, 240)) << c.output();
  EXPECT_EQ(c.exit_code(), 0) << c.output();
  return csweep::store::read_store(store);
}

csweep::store::StageSelection chosen(const fs::path& store, const std::string& name) {
  auto s = csweep::store::read_stage_selection(store, name);
  if (!s) throw std::runtime_error("no selection for " + name);
  return *s;
}

void expect_same_values(const StoreContents& x, const StoreContents& y, const std::string& why) {
  ASSERT_EQ(x.analyses.size(), y.analyses.size());
  for (size_t a = 0; a < x.analyses.size(); ++a) {
    const auto& u = x.analyses[a].values;
    const auto& v = y.analyses[a].values;
    ASSERT_EQ(u.size(), v.size());
    EXPECT_EQ(std::memcmp(u.data(), v.data(), u.size() * sizeof(float)), 0)
        << why << ": " << x.analyses[a].info.name;
  }
}

// Starts `csweep run ARGS`, SIGKILLs it as soon as `marker` exists (a stage's cells chosen:
// the stage's shards are being handed out) and returns it, ended.
Child killed_once_exists(const std::vector<std::string>& args, const fs::path& marker,
                         const fs::path& log) {
  Child c = spawn(run_command(0, args), log);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  while (!fs::exists(marker) && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  ::kill(-c.pid, SIGKILL);
  wait_for(c, 30);
  return c;
}

}  // namespace

// The stage's cells are the top 8 by |mean AtP effect| plus 8 drawn from the rest, and each
// equals exhaustive patching of the same cell bit for bit; the chain atp_heads -> heads ->
// positions runs each chosen head at every position (23: 24 tokens less the answer).
TEST(Stages, ChosenCellsAreTheTopEstimatesAndEqualExhaustivePatchingBitForBit) {
  const fs::path store = stages_dir("one");
  const StoreContents c = run_to_end(0, store);
  ASSERT_TRUE(c.complete());
  const auto& atp = results(c, "atp");
  const auto& exact = results(c, "exact");
  const auto& every = results(c, "exhaustive");
  const auto sel = chosen(store, "exact");
  ASSERT_EQ(sel.top_k, 8);
  ASSERT_EQ(sel.cells.size(), 16u);
  EXPECT_EQ(exact.cells, 16);
  // The ranking, recomputed here from the store: mean over prompts of (AtP - corrupted).
  const auto base = csweep::store::read_baselines(store, c.layout, c.spec_hash);
  std::vector<double> score(static_cast<size_t>(atp.cells), 0.0);
  for (int64_t p = 0; p < atp.n_prompts; ++p)
    for (int64_t i = 0; i < atp.cells; ++i)
      score[i] += (atp.at(p, i) - base.values[0][p].corrupted) / atp.n_prompts;
  std::vector<int64_t> order(score.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](int64_t x, int64_t y) { return std::fabs(score[x]) > std::fabs(score[y]); });
  for (int i = 0; i < 8; ++i) {
    EXPECT_EQ(sel.chosen[i], order[i]) << "rank " << i;
    EXPECT_NEAR(sel.scores[i], score[order[i]], 1e-9);
  }
  std::set<int64_t> top(order.begin(), order.begin() + 8), drawn;
  for (int i = 8; i < 16; ++i) {
    EXPECT_EQ(top.count(sel.chosen[i]), 0u) << "a random cell repeats a top one";
    drawn.insert(sel.chosen[i]);
  }
  EXPECT_EQ(drawn.size(), 8u);
  // Same grid as the source ([layer, pos, head]): a chosen cell is the same cell of exhaustive.
  for (int64_t p = 0; p < exact.n_prompts; ++p)
    for (size_t i = 0; i < sel.cells.size(); ++i) {
      EXPECT_EQ(sel.cells[i], sel.chosen[i]);
      const float x = exact.at(p, static_cast<int64_t>(i)), y = every.at(p, sel.cells[i]);
      EXPECT_EQ(std::memcmp(&x, &y, sizeof x), 0)
          << "prompt " << p << ", " << sel.labels[i] << ": " << x << " vs " << y;
    }
  // The chain: heads ran 3 + 1 heads; positions ran the 2 best of those at all 23 positions.
  const auto heads = chosen(store, "heads");
  const auto positions = chosen(store, "positions");
  ASSERT_EQ(heads.cells.size(), 4u);
  ASSERT_EQ(positions.chosen.size(), 2u);
  ASSERT_EQ(positions.cells.size(), 46u);
  for (size_t k = 0; k < 2; ++k) {
    EXPECT_EQ(positions.chosen_grid_cells[k], heads.cells[positions.chosen[k]]);
    const int64_t layer = positions.chosen_grid_cells[k] / 4,
                  head = positions.chosen_grid_cells[k] % 4;
    for (int64_t pos = 0; pos < 23; ++pos) {  // [layer, pos, head] of exhaustive
      const int64_t cell = (layer * 23 + pos) * 4 + head;
      EXPECT_EQ(positions.cells[k * 23 + pos], cell);
      for (int64_t p = 0; p < every.n_prompts; ++p) {
        const float x = results(c, "positions").at(p, static_cast<int64_t>(k * 23 + pos));
        const float y = every.at(p, cell);
        EXPECT_EQ(std::memcmp(&x, &y, sizeof x), 0) << positions.labels[k * 23 + pos];
      }
    }
  }
  // The induction head (1.x) is the top of the head ranking; previous-token head 0.x follows.
  EXPECT_EQ(heads.labels[0].rfind("layer=1", 0), 0u) << heads.labels[0];
  // The circuit of heads' 3 best heads (in heads' exact order) keeps >= 80 % of the logit
  // difference: f = (m(C) - m(empty)) / (m(N) - m(empty)) over sizes [0, 1, 2, 3, all 8].
  const auto circuit = chosen(store, "circuit");
  ASSERT_EQ(circuit.labels.size(), 3u);
  for (size_t k = 0; k < 3; ++k)
    EXPECT_EQ(circuit.chosen_grid_cells[k], heads.cells[circuit.chosen[k]]) << circuit.labels[k];
  const auto& m = results(c, "circuit");
  ASSERT_EQ(m.cells, 5);
  std::vector<double> mean(5, 0.0);
  for (int64_t p = 0; p < m.n_prompts; ++p)
    for (int64_t s = 0; s < 5; ++s) mean[s] += m.at(p, s) / m.n_prompts;
  const double f3 = (mean[3] - mean[0]) / (mean[4] - mean[0]);
  EXPECT_GE(f3, 0.8) << circuit.labels[0] << " " << circuit.labels[1] << " " << circuit.labels[2];
  // Path patching between those 3 heads: the path that moves the metric most runs from the
  // previous-token head 0.0 into an induction head's key input (K-composition), and it carries
  // most of the effect (the prompts corrupt the first copy of the repeated tokens).
  const auto paths = chosen(store, "paths");
  const auto& p = results(c, "paths");
  double clean = 0, corrupted = 0;
  for (int64_t q = 0; q < p.n_prompts; ++q) {
    clean += base.values[7][q].clean / p.n_prompts;
    corrupted += base.values[7][q].corrupted / p.n_prompts;
  }
  size_t best = 0;
  std::vector<double> path_mean(paths.cells.size(), 0.0);
  for (size_t i = 0; i < paths.cells.size(); ++i) {
    for (int64_t q = 0; q < p.n_prompts; ++q)
      path_mean[i] += p.at(q, static_cast<int64_t>(i)) / p.n_prompts;
    if (std::fabs(path_mean[i] - clean) > std::fabs(path_mean[best] - clean)) best = i;
  }
  const std::string edge = paths.labels[best];
  EXPECT_NE(edge.find(".k layer=0 head=0"), std::string::npos) << edge;
  EXPECT_EQ(edge.rfind("receiver=a1.", 0), 0u) << edge;
  EXPECT_LT((path_mean[best] - corrupted) / (clean - corrupted), 0.5) << edge;
}

// SIGKILL while a stage runs (its cells chosen, some of its shards done), rerun: the same cells
// and the same numbers as an uninterrupted run; and mpirun -np 3 gives the same store.
TEST(Stages, KilledMidStageResumesAndAnMpiWorldMatchesOneProcess) {
  const fs::path whole = stages_dir("whole");
  const StoreContents expected = run_to_end(0, whole);
  ASSERT_TRUE(expected.complete());

  const fs::path store = stages_dir("killed");
  const fs::path marker = csweep::store::stage_selection_file(store, "exact");
  Child c = killed_once_exists({job(), "--store", store.string()}, marker, store.string() + ".log");
  ASSERT_TRUE(fs::exists(marker)) << c.output();
  const StoreContents partial = csweep::store::read_store(store);
  ASSERT_FALSE(partial.complete()) << "the run ended before the kill";
  const StoreContents resumed = run_to_end(0, store);
  ASSERT_TRUE(resumed.complete());
  expect_same_values(expected, resumed, "killed and resumed");
  for (const char* stage : {"exact", "heads", "positions", "circuit"})
    EXPECT_EQ(chosen(store, stage).to_json(), chosen(whole, stage).to_json()) << stage;

  const fs::path world = stages_dir("np3");
  const StoreContents many = run_to_end(3, world);
  ASSERT_TRUE(many.complete());
  expect_same_values(expected, many, "mpirun -np 3");
  for (const char* stage : {"exact", "heads", "positions", "circuit"})
    EXPECT_EQ(chosen(world, stage).to_json(), chosen(whole, stage).to_json()) << stage;
}

// One level's run (`csweep run --level K`, one chained Slurm job each): run level by level
// 1 -> refused; 0; 2 -> refused; 1 SIGKILLed once its cells are chosen, rerun; 2: the same
// cells and the same numbers, bit for bit, as one plain run of the whole job.
TEST(Stages, LevelRunsRefuseMissingInputsResumeAndEqualOnePlainRun) {
  auto level_run = [](const fs::path& store, int level) {
    Child c =
        spawn(run_command(0, {job(), "--store", store.string(), "--level", std::to_string(level)}),
              store.string() + ".log" + std::to_string(level));
    EXPECT_TRUE(wait_for(c, 240)) << c.output();
    return c;
  };
  // Which analyses the store holds every shard of.
  auto complete_analyses = [](const fs::path& store) {
    std::set<std::string> names;
    for (const auto& a : csweep::store::read_store(store).analyses)
      if (std::all_of(a.done.begin(), a.done.end(), [](uint8_t d) { return d != 0; }))
        names.insert(a.info.name);
    return names;
  };
  const fs::path store = stages_dir("levels");
  Child early = level_run(store, 1);
  EXPECT_EQ(early.exit_code(), 2);
  EXPECT_NE(early.output().find("csweep: --level 1: stage \"exact\" reads \"atp\", which has 0/4 "
                                "shards done; run --level 0 first"),
            std::string::npos)
      << early.output();
  EXPECT_FALSE(fs::exists(store)) << "a refused level run leaves no store";

  Child zero = level_run(store, 0);
  ASSERT_EQ(zero.exit_code(), 0) << zero.output();
  EXPECT_EQ(complete_analyses(store), (std::set<std::string>{"atp", "atp_heads", "exhaustive"}));
  Child skipped = level_run(store, 2);
  EXPECT_EQ(skipped.exit_code(), 2);
  EXPECT_NE(skipped.output().find("--level 2: stage \"positions\" reads \"heads\", which has "
                                  "0/16 shards done; run --level 1 first"),
            std::string::npos)
      << skipped.output();

  const fs::path marker = csweep::store::stage_selection_file(store, "heads");
  Child one = killed_once_exists({job(), "--store", store.string(), "--level", "1"}, marker,
                                 store.string() + ".log-killed");
  ASSERT_TRUE(fs::exists(marker)) << one.output();
  const auto at_kill = complete_analyses(store);
  ASSERT_LT(at_kill.count("exact") + at_kill.count("heads"), 2u) << "level 1 ended before the kill";
  Child resumed = level_run(store, 1);
  ASSERT_EQ(resumed.exit_code(), 0) << resumed.output();
  EXPECT_NE(resumed.output().find("csweep run: level 1 complete: 80/80 shards"), std::string::npos)
      << resumed.output();
  EXPECT_EQ(complete_analyses(store).count("positions"), 0u) << "level 1 ran level 2's shards";
  ASSERT_EQ(level_run(store, 2).exit_code(), 0);

  const fs::path whole = stages_dir("levels-whole");
  const StoreContents expected = run_to_end(0, whole);
  const StoreContents chained = csweep::store::read_store(store);
  ASSERT_TRUE(chained.complete());
  expect_same_values(expected, chained, "level by level");
  for (const char* stage : {"exact", "heads", "positions", "circuit"})
    EXPECT_EQ(chosen(store, stage).to_json(), chosen(whole, stage).to_json()) << stage;
}

// csweep plan prints each stage's forwards (exact) beside exhaustive patching's.
TEST(Stages, PlanCountsEachStagesForwardsAgainstExhaustivePatching) {
  const auto plan = csweep::testing::run_command(csweep_bin() + " plan " + job() + " --json");
  ASSERT_EQ(plan.status, 0) << plan.output;
  const auto j = nlohmann::json::parse(plan.output);
  const auto& exact = j["analyses"][1];
  ASSERT_EQ(exact["name"], "exact");
  EXPECT_EQ(exact["units"], 4 * 16);
  EXPECT_EQ(exact["stage"]["ranked_cells"], 2 * 23 * 4);  // 23 positions: 24 tokens less the answer
  EXPECT_EQ(exact["stage"]["exhaustive_cells_per_prompt"], 2 * 23 * 4);
  // One patched row per cell plus the clean and corrupted runs of each prompt.
  EXPECT_EQ(exact["forwards"], 4 * 16 + 4 * 2);
  EXPECT_EQ(exact["stage"]["exhaustive_forwards"], 4 * 184 + 4 * 2);
  EXPECT_EQ(j["analyses"][4]["units"], 4 * 2 * 23);  // positions: 2 heads x 23 positions
  EXPECT_EQ(j["analyses"][5]["units"], 4 * 5);       // circuit: sizes 0, 1, 2, 3 and all 8
  // Stage levels: atp, atp_heads, exhaustive 0; exact, heads 1; positions, circuit, paths 2.
  std::vector<int> levels;
  for (const auto& a : j["analyses"]) levels.push_back(a["level"]);
  EXPECT_EQ(levels, (std::vector<int>{0, 1, 0, 1, 2, 2, 0, 2}));
  EXPECT_EQ(j["totals"]["stage_levels"], 3);
  const auto text = csweep::testing::run_command(csweep_bin() + " plan " + job());
  EXPECT_NE(text.output.find("stage   exact after atp: top 8 + 8 random of its 184 cells -> 72 "
                             "forwards (exhaustive: 744"),
            std::string::npos)
      << text.output;
  EXPECT_NE(text.output.find("levels  3 (csweep run --level K runs one): 0: atp atp_heads "
                             "exhaustive; 1: exact heads; 2: positions circuit paths\n"),
            std::string::npos)
      << text.output;
}

// The check on a real model: the ioi template (indirect object identification) on
// SmolLM2-135M-Instruct, AtP over every head -> exact patching of its top 6 + 4 random -> the
// circuit of the exact ranking's top heads, across 4 ranks (3 workers), equal to one process.
TEST(Stages, IoiPipelineOnSmolLM2AcrossFourRanksEqualsOneProcess) {
  std::string why;
  bool offline = false;
  const std::string model = csweep::test::smollm2_dir(&why, &offline);
  if (model.empty() && offline) GTEST_SKIP() << why;
  ASSERT_FALSE(model.empty()) << why;
  const fs::path dir = stages_dir("ioi");
  fs::create_directories(dir);
  const fs::path job_file = dir / "ioi_stages.yaml";
  std::ofstream(job_file)
      << "name: ioi_stages\nseed: 5\nmodel:\n  path: " << model
      << "\nprompts:\n  - {template: ioi, n: 6}\nmetric: logit_diff\n"
         "analyses:\n"
         "  - {name: atp, kind: attribution_patching, sites: [attn.hook_z], "
         "patch: all_positions}\n"
         "  - {name: exact, kind: activation_patching, sites: [attn.hook_z], "
         "patch: all_positions, from: {analysis: atp, top_k: 6, plus_random: 4}}\n"
         "  - {name: circuit, kind: circuit_faithfulness, sizes: [2, 4, 6], "
         "from: {analysis: exact, top_k: 6}}\n"
         "sharding: {batch_size: 2}\n";
  auto run = [&](int np, const std::string& name) {
    const fs::path store = dir / name;
    Child c = spawn(run_command(np, {job_file.string(), "--store", store.string()}),
                    store.string() + ".log");
    EXPECT_TRUE(wait_for(c, 600)) << c.output();
    EXPECT_EQ(c.exit_code(), 0) << c.output();
    return csweep::store::read_store(store);
  };
  const StoreContents one = run(0, "one");
  const StoreContents four = run(4, "four");
  ASSERT_TRUE(one.complete());
  ASSERT_TRUE(four.complete());
  EXPECT_EQ(four.fragments.size(), 3u);
  expect_same_values(one, four, "mpirun -np 4");
  for (const char* stage : {"exact", "circuit"})
    EXPECT_EQ(chosen(dir / "one", stage).to_json(), chosen(dir / "four", stage).to_json()) << stage;
  EXPECT_EQ(chosen(dir / "one", "exact").chosen.size(), 10u);
  EXPECT_EQ(chosen(dir / "one", "circuit").labels.size(), 6u);
}

// Path patching between a stage's chosen heads (receivers: {chosen: ...}): each cell, sender s
// into the k-th chosen head's input x, equals hand-written path_patching of sender s with
// receivers [that head's x] bit for bit (and the logits cell path patching to the logits).
TEST(Stages, PathPatchingBetweenChosenHeadsEqualsHandWrittenReceiversBitForBit) {
  const fs::path dir = stages_dir("paths");
  fs::create_directories(dir);
  const fs::path job_file = dir / "paths.yaml";
  std::ofstream out(job_file);
  out << "name: path_stages\nseed: 11\nmodel:\n  path: "
      << source_path("examples/models/induction-2l").string()
      << "\nprompts:\n  - {template: repeated_tokens, n: 4, length: 12, repeats: 2, low: 32, "
         "high: 256, corruption: first}\nmetric: logit_diff\nanalyses:\n"
         "  - {name: heads, kind: activation_patching, sites: [attn.hook_z], "
         "patch: all_positions}\n"
         "  - {name: paths, kind: path_patching, receivers: {chosen: [q, k, v], logits: true}, "
         "from: {analysis: heads, top_k: 3, plus_random: 1, seed: 5}}\n"
         "  - {name: ref_logits, kind: path_patching}\n";
  for (int layer = 0; layer < 2; ++layer)
    for (int head = 0; head < 4; ++head)
      for (const char* x : {"q", "k", "v"})
        out << "  - {name: ref_" << layer << "_" << head << "_" << x
            << ", kind: path_patching, receivers: [" << layer << "." << head << "." << x << "]}\n";
  out.close();
  // Batches of 1: every row alone, the same arithmetic on both sides (bit for bit); of 64: a
  // stage shard holds all 52 cells, 4 senders per receiver batched (equal within float error).
  auto run = [&](int batch) {
    const fs::path store = dir / ("batch" + std::to_string(batch));
    const fs::path file = store.string() + ".yaml";
    fs::copy_file(job_file, file);
    std::ofstream(file, std::ios::app) << "sharding: {batch_size: " << batch << "}\n";
    Child c =
        spawn(run_command(0, {file.string(), "--store", store.string()}), store.string() + ".log");
    EXPECT_TRUE(wait_for(c, 240)) << c.output();
    EXPECT_EQ(c.exit_code(), 0) << c.output();
    return store;
  };
  const fs::path store = run(1), batched = run(64);
  const StoreContents s = csweep::store::read_store(store);
  ASSERT_TRUE(s.complete());
  const StoreContents b = csweep::store::read_store(batched);
  ASSERT_TRUE(b.complete());
  EXPECT_EQ(chosen(batched, "paths").cells, chosen(store, "paths").cells);
  const auto& one_row = results(s, "paths").values;
  const auto& many_rows = results(b, "paths").values;
  ASSERT_EQ(one_row.size(), many_rows.size());
  for (size_t i = 0; i < one_row.size(); ++i)
    EXPECT_NEAR(many_rows[i], one_row[i], 1e-5 * std::max(1.0f, std::fabs(one_row[i]))) << i;
  const auto sel = chosen(store, "paths");
  ASSERT_EQ(sel.chosen.size(), 4u);
  ASSERT_EQ(sel.cells.size(), 4u * 13);  // 4 chosen senders x (4 heads x q, k, v + logits)
  const auto& paths = results(s, "paths");
  const auto clean = csweep::store::read_baselines(store, s.layout, s.spec_hash);
  double k_effect = 0, other_effect = 0;  // the largest |change| through k and through q or v
  for (size_t i = 0; i < sel.cells.size(); ++i) {
    const int64_t receiver = sel.cells[i] / 8, sender = sel.cells[i] % 8;
    std::string name = "ref_logits", label = "logits";
    if (receiver < 12) {
      const int64_t head_cell = sel.chosen_grid_cells[static_cast<size_t>(receiver / 3)];
      const std::string x(1, "qkv"[receiver % 3]);
      name = "ref_" + std::to_string(head_cell / 4) + "_" + std::to_string(head_cell % 4) + "_" + x;
      label = "a" + std::to_string(head_cell / 4) + ".h" + std::to_string(head_cell % 4) + "." + x;
    }
    EXPECT_EQ(sel.labels[i].rfind("receiver=" + label + " ", 0), 0u) << sel.labels[i];
    for (int64_t p = 0; p < paths.n_prompts; ++p) {
      const float x = paths.at(p, static_cast<int64_t>(i)), y = results(s, name).at(p, sender);
      EXPECT_EQ(std::memcmp(&x, &y, sizeof x), 0)
          << "prompt " << p << ", " << sel.labels[i] << ": " << x << " vs " << name << " " << y;
      if (receiver < 12) {
        double& best = receiver % 3 == 1 ? k_effect : other_effect;
        best = std::max(best, std::fabs(x - clean.values[1][p].clean));
      }
    }
  }
  // K-composition: the strongest path between the survivors runs into a key input.
  EXPECT_GT(k_effect, other_effect);
}

// The pipeline at 13B scale, planned without weights (bench/loader/plan_13b_circuit.yaml on a
// Llama-2-13B-shaped sparse checkpoint): each stage's forwards against exhaustive patching's.
TEST(Stages, PlanOfA13BShapedCheckpointCountsEveryStage) {
  const fs::path dir = stages_dir("plan13b");
  fs::create_directories(dir);
  const auto made = csweep::testing::run_command(
      "python3 " + source_path("bench/loader/make_shaped_checkpoint.py").string() + " " +
      (dir / "llama-2-13b").string() + " --preset llama-2-13b");
  ASSERT_EQ(made.status, 0) << made.output;
  std::ifstream in(source_path("bench/loader/plan_13b_circuit.yaml"));
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const std::string from = "../../build/shaped/llama-2-13b";
  ASSERT_NE(text.find(from), std::string::npos);
  text.replace(text.find(from), from.size(), (dir / "llama-2-13b").string());
  std::ofstream(dir / "plan.yaml") << text;
  const auto plan =
      csweep::testing::run_command(csweep_bin() + " plan " + (dir / "plan.yaml").string() +
                                   " --ranks 33 --mem-per-rank 80GB --json");
  ASSERT_EQ(plan.status, 0) << plan.output;
  const auto j = nlohmann::json::parse(plan.output);
  std::map<std::string, int64_t> forwards;
  for (const auto& a : j["analyses"]) forwards[a["name"]] = a["forwards"];
  // 16 prompts of 127 tokens; 40 layers x 40 heads; + 2 runs (clean, corrupted) per prompt.
  EXPECT_EQ(forwards["atp"], 16 * 4);  // clean and corrupted forwards, a backward (~2 forwards)
  EXPECT_EQ(forwards["exact"], 16 * (256 + 64) + 32);
  EXPECT_EQ(forwards["heads"], 16 * (32 + 16) + 32);
  EXPECT_EQ(forwards["positions"], 16 * 8 * 127 + 32);
  EXPECT_EQ(forwards["paths"], 16 * 8 * 25 * 2 + 32);  // 8 senders x 25 receivers, 2 rows each
  EXPECT_EQ(j["analyses"][1]["stage"]["exhaustive_forwards"], 16 * 40 * 127 * 40 + 32);
  EXPECT_EQ(j["ranks"]["worker_groups"].size(), 32u);
}
