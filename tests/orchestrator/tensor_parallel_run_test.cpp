// `csweep run` with tensor-parallel worker groups (model.tensor_parallel, issue 16 item 5), as
// real mpirun worlds: (N-1)/T groups of T ranks, each group one copy of the model split T ways,
// only leaders writing. A whole run equals the one-process run on the architecture fixtures
// (fp32, within the model tests' tolerance: the split GEMMs sum in another order); a rank lost
// anywhere in a group takes the group with it and never hangs the run; bad layouts are refused
// before the store exists.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <csignal>
#include <fstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "process.h"
#include "store/reader.h"
#include "synthetic_store.h"
#include "tests/model/reference/arch_fixtures.h"
#include "tests/run_command.h"
#include "worker/rank_device.h"

namespace fs = std::filesystem;
using namespace csweep::testing;
using csweep::model::testing::arch_fixtures;
using csweep::model::testing::gpt2_fixture;

namespace {

fs::path fresh_dir(const std::string& name) { return fresh_test_dir("orchestrator-tp", name); }

// Every analysis kind that runs under tensor parallelism (attribution patching, which needs
// gradients through the collectives, is refused), on token ids every fixture's vocabulary has.
std::string job_yaml(const fs::path& model, const std::string& tp) {
  return R"(name: tp_equality
seed: 0
model:
  path: )" +
         model.string() + "\n  tensor_parallel: " + tp + R"(
prompts:
  - {id: p0, clean: [5, 17, 33, 41, 8, 60, 72, 9], corrupted: [5, 17, 34, 41, 8, 61, 72, 9], answer: 12, wrong: 40, subject: [1, 3]}
  - {id: p1, clean: [11, 22, 33, 44, 55, 66, 77, 88], corrupted: [11, 22, 30, 44, 55, 67, 77, 88], answer: 12, wrong: 40, subject: [2, 4]}
metric: logit_diff
analyses:
  - {name: z_by_pos, kind: activation_patching, sites: [attn.hook_z], patch: per_position}
  - {name: kv_heads, kind: activation_patching, sites: [attn.hook_v, attn.hook_k], direction: noising}
  - {name: resid_and_neurons, kind: activation_patching, sites: [hook_resid_pre, mlp.hook_post], patch: per_position}
  - {name: mean_heads, kind: ablation, method: mean, target: heads}
  - {name: zero_mlp, kind: ablation, method: zero, target: mlp}
  - {name: trace, kind: causal_tracing, samples: 2, seed: 1, restore: attn}
  - {name: lens, kind: logit_lens, quantities: [prob, logprob, rank, logit_diff]}
  - {name: dla_heads, kind: direct_logit_attribution, components: heads}
  - {name: head_scores, kind: attention_scores, scores: [previous_token, induction]}
  - {name: norms, kind: weight_norms, quantities: [ov, qk]}
  - {name: circuits, kind: head_circuits}
  - {name: composition, kind: composition_scores}
sharding:
  batch_size: 8
)";
}

// `tp`: a number or "auto".
fs::path write_job(const fs::path& dir, const fs::path& model, const std::string& tp) {
  fs::create_directories(dir);
  const fs::path job = dir / ("job_tp" + tp + ".yaml");
  std::ofstream(job) << job_yaml(model, tp);
  return job;
}
fs::path write_job(const fs::path& dir, const fs::path& model, int tp) {
  return write_job(dir, model, std::to_string(tp));
}

// How many worker ranks said they loaded tensor-parallel rank k of `tp` (csweep -v).
size_t ranks_holding_part(const std::string& output, int k, int tp) {
  const std::string line =
      "tensor-parallel rank " + std::to_string(k) + " of " + std::to_string(tp) + ": query heads";
  size_t found = 0;
  for (size_t at = output.find(line); at != std::string::npos; at = output.find(line, at + 1))
    ++found;
  return found;
}

struct Finished {
  int exit_code = -1;
  std::string output;
};

Finished run_job(const fs::path& job, const fs::path& store, int np,
                 std::vector<std::string> extra = {}, bool verbose = false) {
  std::vector<std::string> args{job.string(), "--store", store.string()};
  args.insert(args.end(), extra.begin(), extra.end());
  std::vector<std::string> argv = run_command(np, args);
  if (verbose) argv.insert(std::find(argv.begin(), argv.end(), "run"), "-v");
  Child c = spawn(argv, store.string() + ".log");
  EXPECT_TRUE(wait_for(c, 240)) << c.output();
  return {c.exit_code(), c.output()};
}

// Every cell of `many` equals `one`'s within 1e-5, or one part in 10^6 of the analysis's
// largest magnitude when that is above 10 (the model tests' rule for logits).
void expect_same_tables(const csweep::store::StoreContents& one,
                        const csweep::store::StoreContents& many, const std::string& what) {
  ASSERT_TRUE(one.complete() && many.complete()) << what;
  ASSERT_EQ(one.analyses.size(), many.analyses.size()) << what;
  for (size_t a = 0; a < one.analyses.size(); ++a) {
    const auto& x = one.analyses[a].values;
    const auto& y = many.analyses[a].values;
    ASSERT_EQ(x.size(), y.size()) << what << ": " << one.analyses[a].info.name;
    float scale = 0.0f;
    for (float v : x)
      if (std::isfinite(v)) scale = std::max(scale, std::fabs(v));
    const double tol = std::max(1e-5, 1e-6 * scale);
    size_t worst = 0;
    double worst_diff = 0.0;
    for (size_t i = 0; i < x.size(); ++i) {
      if (std::isnan(x[i]) && std::isnan(y[i])) continue;
      const double d = std::fabs(double(x[i]) - double(y[i]));
      if (!(d <= worst_diff)) {
        worst_diff = d;
        worst = i;
      }
    }
    EXPECT_LE(worst_diff, tol) << what << ": " << one.analyses[a].info.name << " cell " << worst
                               << ": " << x[worst] << " vs " << y[worst];
  }
}

// The one-process run of `model`, and its worlds of groups: {np, T} each.
void expect_groups_equal_one_process(const std::string& name, const fs::path& model,
                                     const std::vector<std::pair<int, int>>& worlds) {
  const fs::path dir = fresh_dir(name);
  const Finished plain = run_job(write_job(dir, model, 1), dir / "one.store", 0);
  ASSERT_EQ(plain.exit_code, 0) << plain.output;
  const auto one = csweep::store::read_store(dir / "one.store");
  for (const auto& [np, tp] : worlds) {
    const std::string what = name + " np " + std::to_string(np) + " T " + std::to_string(tp);
    const fs::path store =
        dir / ("np" + std::to_string(np) + "_tp" + std::to_string(tp) + ".store");
    const Finished r = run_job(write_job(dir, model, tp), store, np, {}, true);
    ASSERT_EQ(r.exit_code, 0) << what << ": " << r.output;
    // Every worker rank held a 1/T slice, not the whole model (-v: each says what it loaded).
    for (int k = 0; k < tp; ++k)
      EXPECT_EQ(ranks_holding_part(r.output, k, tp), static_cast<size_t>((np - 1) / tp))
          << what << ": rank " << k << " of " << tp;
    const auto many = csweep::store::read_store(store);
    EXPECT_EQ(many.spec_hash, one.spec_hash) << what;  // T is not part of the job's identity
    // Only leaders write: one fragment per group, and every group did work.
    const size_t groups = static_cast<size_t>((np - 1) / tp);
    EXPECT_EQ(many.fragments.size(), groups) << what;
    for (const auto& w : many.writers) EXPECT_GT(w.shards, 0) << what;
    expect_same_tables(one, many, what);
  }
}

}  // namespace

// GPT-2 (fused c_attn, 4 heads): two groups of 2, and one group of 4.
TEST(TensorParallelRun, Gpt2GroupsOf2And4EqualTheOneProcessRun) {
  expect_groups_equal_one_process("gpt2", gpt2_fixture(), {{5, 2}, {5, 4}});
}

// Llama with one KV head for two ranks (replicated KV), and NeoX's parallel residual.
TEST(TensorParallelRun, ReplicatedKvHeadsAndParallelResidualEqualTheOneProcessRun) {
  expect_groups_equal_one_process("llama_untied", arch_fixtures() / "llama_untied", {{3, 2}});
  expect_groups_equal_one_process("neox_parallel", arch_fixtures() / "neox_parallel", {{3, 2}});
}

// tensor_parallel: auto with a memory per rank that one whole model just misses: rank 0 picks
// T = 2, tells the workers in START, and the run equals the one-process run.
TEST(TensorParallelRun, AutoPicksTheSmallestSplitThatFitsAndRunsIt) {
  const fs::path dir = fresh_dir("auto");
  const fs::path whole = write_job(dir, gpt2_fixture(), 1);
  const auto plan =
      csweep::testing::run_command(csweep_bin() + " plan " + whole.string() + " --ranks 3 --json");
  ASSERT_EQ(plan.status, 0) << plan.output;
  const auto need = nlohmann::json::parse(plan.output)["memory"]["per_rank_bytes"].get<uint64_t>();
  const std::string limit = std::to_string(need - 1);  // T = 1 does not fit, T = 2 does

  const Finished plain = run_job(whole, dir / "one.store", 0);
  ASSERT_EQ(plain.exit_code, 0) << plain.output;
  const Finished r = run_job(write_job(dir, gpt2_fixture(), "auto"), dir / "auto.store", 3,
                             {"--mem-per-rank", limit}, true);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(ranks_holding_part(r.output, 0, 2), 1u) << r.output;
  EXPECT_EQ(ranks_holding_part(r.output, 1, 2), 1u) << r.output;
  expect_same_tables(csweep::store::read_store(dir / "one.store"),
                     csweep::store::read_store(dir / "auto.store"), "auto");
}

// A world that is not a coordinator plus whole groups, and one process, are refused in one
// line naming the job file and field, before any store exists.
TEST(TensorParallelRun, WorldsWithoutWholeGroupsAreRefusedBeforeTheStoreExists) {
  const fs::path dir = fresh_dir("refused");
  const fs::path job = write_job(dir, gpt2_fixture(), 2);
  for (int np : {0, 4}) {
    const fs::path store = dir / ("np" + std::to_string(np) + ".store");
    const Finished r = run_job(job, store, np);
    EXPECT_EQ(r.exit_code, 2) << r.output;
    EXPECT_NE(r.output.find(job.string() + ": model.tensor_parallel: 2: "), std::string::npos)
        << r.output;
    EXPECT_FALSE(fs::exists(store)) << "np " << np;
  }
}

// The machinery with the synthetic executor: a member that hangs inside a shard holds up its
// leader, so the group is hung: it is lost after the shard timeout, its shards go to the
// other group, and the run finishes with every value exact.
TEST(TensorParallelRun, AHungMemberLosesItsGroupAndTheOtherGroupFinishes) {
  const fs::path dir = fresh_dir("hung-member");
  const fs::path job = write_job(dir, gpt2_fixture(), 2);
  std::string every_shard;
  for (int id = 0; id < 2000; ++id) every_shard += (id ? ";" : "") + std::to_string(id);
  const fs::path store = dir / "hung.store";
  const Finished r = run_job(job, store, 5,
                             {"--executor", "synthetic:sleep_ms=2,fail_rank=2,hang=" + every_shard,
                              "--shard-timeout", "3", "--prefetch", "1"});
  EXPECT_EQ(r.exit_code, 0) << r.output;
  expect_synthetic_store(store);
  int lost_groups = 0;
  for (const auto& e : fs::directory_iterator(store / "journal")) {
    std::ifstream in(e.path());
    for (std::string line; std::getline(in, line);)
      lost_groups += line.find("\"group_leader\":1") != std::string::npos;
  }
  EXPECT_EQ(lost_groups, 1);
}

// SIGKILL of a member (not a leader) in the middle of a real sweep: the run ends (mpirun takes
// the world down; nothing waits forever in a collective), and a rerun finishes the sweep with
// the numbers of an uninterrupted run.
TEST(TensorParallelRun, SigkillOfAMemberEndsTheRunAndARerunIsExact) {
  const fs::path dir = fresh_dir("kill-member");
  const fs::path job = write_job(dir, gpt2_fixture(), 2);
  const fs::path clean_store = dir / "clean.store";
  ASSERT_EQ(run_job(job, clean_store, 5).exit_code, 0);
  const auto clean = csweep::store::read_store(clean_store);

  const fs::path store = dir / "killed.store";
  Child c =
      spawn(run_command(5, {job.string(), "--store", store.string()}), store.string() + ".log");
  // Wait until shards are landing, then kill rank 2 (the first group's member).
  for (int i = 0; i < 2000; ++i) {
    if (fs::exists(store) &&
        csweep::store::scan_done_shards(store, clean.layout, clean.spec_hash).count > 0)
      break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  std::vector<pid_t> ranks = children_of(c.pid);
  ASSERT_EQ(ranks.size(), 5u);
  std::sort(ranks.begin(), ranks.end());  // mpirun starts them in rank order
  ::kill(ranks[2], SIGKILL);
  ASSERT_TRUE(wait_for(c, 60)) << "the run did not end after its member was killed";
  EXPECT_NE(c.exit_code(), 0);
  const auto partial = csweep::store::read_store(store);
  EXPECT_FALSE(partial.complete()) << "the kill came after the end: the test proved nothing";

  const Finished rerun = run_job(job, store, 5);
  ASSERT_EQ(rerun.exit_code, 0) << rerun.output;
  const auto resumed = csweep::store::read_store(store);
  ASSERT_TRUE(resumed.complete());
  for (size_t a = 0; a < clean.analyses.size(); ++a)
    EXPECT_EQ(clean.analyses[a].values, resumed.analyses[a].values) << clean.analyses[a].info.name;
}

// On a node with several GPUs the k-th worker rank of the node takes GPU (N + k) mod count.
TEST(RankDevice, WorkerRanksOfAHostSpreadOverItsGpus) {
  using csweep::worker::local_worker_index;
  using csweep::worker::rank_device;
  const std::vector<std::string> hosts{"a", "a", "a", "b", "a", "b"};  // rank 0 coordinates
  EXPECT_EQ(local_worker_index(hosts, 1), 0);
  EXPECT_EQ(local_worker_index(hosts, 2), 1);
  EXPECT_EQ(local_worker_index(hosts, 3), 0);
  EXPECT_EQ(local_worker_index(hosts, 4), 2);
  EXPECT_EQ(local_worker_index(hosts, 5), 1);
  EXPECT_EQ(rank_device("cuda:0", 0, 8), "cuda:0");
  EXPECT_EQ(rank_device("cuda:0", 5, 8), "cuda:5");
  EXPECT_EQ(rank_device("cuda:2", 7, 8), "cuda:1");
  EXPECT_EQ(rank_device("cuda:0", 3, 1), "cuda:0");  // one GPU: every rank shares it
  EXPECT_EQ(rank_device("cuda:0", 3, 0), "cuda:0");  // GPU count unknown: the job's device
  EXPECT_EQ(rank_device("cpu", 3, 8), "cpu");
}
