#pragma once
// Stages (`from:`, docs/jobs.md): an analysis that runs on cells chosen from an earlier
// analysis's results. Its shards are planned like any other's (the plan knows how many cells,
// never which), held back by the scheduler until every shard of the source is done, then
// released once rank 0 has chosen the cells and written STORE/stages/<analysis>.json:
//   - live: the source shards' values come to rank 0 with their DONE (protocol.h), or from
//     the local runner in a single-process run;
//   - resume: a selection file already written is used as it is; otherwise the values of the
//     source shards done by earlier runs are read from the store before any worker writes.
// The choice is a pure function of the source's values and baselines, so any number of ranks,
// and any kill and rerun, choose the same cells. Torch-free.
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "orchestrator/sweep_setup.h"
#include "store/stage_selection.h"

namespace csweep::orchestrator {

// A source analysis's results: [n_prompts * cells] row-major, and per prompt the value its
// effects are measured from (the kind's baseline: the corrupted run for patching and
// attribution, the clean run for ablation; 0 for kinds without one).
struct SourceResults {
  std::vector<float> values;
  std::vector<double> reference;
};

// Ranks the source's cells by |mean over prompts of (value - reference)| (ties: lower cell
// first), takes the top_k, draws plus_random more from the rest (seeded, sorted by cell), and
// maps them onto the stage's own grid. `source_selection` is the source's own selection when
// the source is itself a stage. Throws csweep::Error when a source cell is missing (NaN).
store::StageSelection choose_cells(const jobs::JobSpec& spec, uint32_t analysis,
                                   const SourceResults& source,
                                   const store::StageSelection* source_selection);

// True when some stage reads `analysis`'s results (its shards' values go to rank 0).
bool feeds_stage(const jobs::JobSpec& spec, uint32_t analysis);

// Per analysis, its stage level: 0 without `from:`, its source's level + 1 with it. `csweep run
// --level K` runs level K alone (one chained Slurm job per level, docs/cluster.md).
std::vector<int> stage_levels(const jobs::JobSpec& spec);

// Throws csweep::Error ("--level K: stage B reads A, which has d/t shards done; run --level
// K-1 first") unless every source of level K's stages is complete in `done` (per shard id).
void require_level_inputs(const SweepSetup& setup, const std::vector<uint8_t>& done, int level);

class StageTracker {
 public:
  // Reads the selections already chosen and, where one is still to be chosen, the values of
  // the source shards in `already_done`. Call before any worker writes to the store. `level`
  // >= 0 (--level K): tracks only level K's stages, whose sources the caller found complete
  // (require_level_inputs); their cells are then chosen at once, so a level run may be sliced.
  // Throws csweep::Error for a --slice run of all levels of a job with stages (one coordinator must
  // see every shard).
  StageTracker(const SweepSetup& setup, const std::filesystem::path& store_dir,
               const std::vector<uint8_t>& already_done, bool slice, int level = -1);

  bool any() const { return !stages_.empty(); }
  // Per shard id: 1 while its analysis's cells are not chosen yet.
  std::vector<uint8_t> held() const;
  // Choices that can be made now (at start: sources already complete). Returns the shards
  // released: their analyses' selections are written.
  std::vector<uint32_t> release_ready();
  // A shard is done (the first copy: the scheduler drops duplicates) with these values; returns
  // the shards it releases.
  std::vector<uint32_t> on_done(uint32_t shard, const std::vector<float>& values);
  // A shard failed for good: the held shards of every stage that reads it, directly or through
  // other stages, can never run. Returns them with the reason.
  std::vector<uint32_t> on_failed(uint32_t shard, std::string* reason);

 private:
  struct Stage {
    uint32_t analysis = 0;
    uint32_t source = 0;
    bool chosen = false;
    bool dead = false;
    std::vector<uint32_t> shards;  // this stage's own shard ids
  };
  struct Source {
    std::vector<float> values;  // [n_prompts * cells], NaN until done
    int64_t cells = 0;
    int64_t shards_left = 0;
  };
  std::vector<uint32_t> choose(Stage& st);

  const SweepSetup& setup_;
  std::filesystem::path dir_;
  std::vector<Stage> stages_;
  std::vector<std::optional<Source>> sources_;  // per analysis: set when a stage reads it
};

}  // namespace csweep::orchestrator
