#include "orchestrator/stages.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "common/error.h"
#include "common/log.h"
#include "jobs/kinds/kind_options.h"
#include "store/baselines.h"
#include "store/reader.h"

namespace csweep::orchestrator {
namespace {

// splitmix64: a fixed generator, so a seed draws the same cells on every platform.
uint64_t next_random(uint64_t& state) {
  uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

// For each cell of the source kind's grid, the cells of `mine` with the same coordinates on
// the source's axes (every source axis is one of mine, with the same entries: jobs/ checks it).
std::vector<std::vector<int64_t>> cells_by_source_cell(const std::vector<jobs::Axis>& mine,
                                                       const std::vector<jobs::Axis>& source) {
  int64_t n_source = 1, n_mine = 1;
  for (const auto& a : source) n_source *= a.size;
  for (const auto& a : mine) n_mine *= a.size;
  std::vector<int64_t> stride(source.size(), 1);  // row-major strides of the source grid
  for (int64_t k = static_cast<int64_t>(source.size()) - 2; k >= 0; --k)
    stride[k] = stride[k + 1] * source[k + 1].size;
  std::vector<int> source_axis_of(mine.size(), -1);
  for (size_t m = 0; m < mine.size(); ++m)
    for (size_t k = 0; k < source.size(); ++k)
      if (source[k].name == mine[m].name) source_axis_of[m] = static_cast<int>(k);
  std::vector<std::vector<int64_t>> out(static_cast<size_t>(n_source));
  for (int64_t cell = 0; cell < n_mine; ++cell) {
    int64_t rest = cell, source_cell = 0;
    for (int64_t m = static_cast<int64_t>(mine.size()) - 1; m >= 0; --m) {
      const int64_t entry = rest % mine[m].size;
      rest /= mine[m].size;
      if (source_axis_of[m] >= 0) source_cell += entry * stride[source_axis_of[m]];
    }
    out[static_cast<size_t>(source_cell)].push_back(cell);
  }
  return out;
}

}  // namespace

bool feeds_stage(const jobs::JobSpec& spec, uint32_t analysis) {
  for (const auto& a : spec.analyses)
    if (a.stage && a.stage->source == analysis) return true;
  return false;
}

std::vector<int> stage_levels(const jobs::JobSpec& spec) {
  std::vector<int> level(spec.analyses.size(), 0);
  for (size_t i = 0; i < spec.analyses.size(); ++i)  // a source comes before its stages
    if (const auto& st = spec.analyses[i].stage) level[i] = level.at(st->source) + 1;
  return level;
}

void require_level_inputs(const SweepSetup& setup, const std::vector<uint8_t>& done, int level) {
  const auto& analyses = setup.spec.analyses;
  const std::vector<int> levels = stage_levels(setup.spec);
  for (size_t i = 0; i < analyses.size(); ++i) {
    if (levels[i] != level || !analyses[i].stage) continue;
    const uint32_t source = analyses[i].stage->source;
    int64_t total = 0, finished = 0;
    for (const auto& sh : setup.plan.shards)
      if (sh.analysis == source) {
        ++total;
        finished += sh.id < done.size() && done[sh.id] ? 1 : 0;
      }
    if (finished < total)
      throw error_at("--level " + std::to_string(level), "",
                     "stage \"" + analyses[i].name + "\" reads \"" + analyses[source].name +
                         "\", which has " + std::to_string(finished) + "/" + std::to_string(total) +
                         " shards done; run --level " + std::to_string(level - 1) + " first");
  }
}

store::StageSelection choose_cells(const jobs::JobSpec& spec, uint32_t analysis,
                                   const SourceResults& source,
                                   const store::StageSelection* source_selection) {
  const jobs::AnalysisSpec& a = spec.analyses.at(analysis);
  const jobs::StageSpec& st = a.stage.value();
  const jobs::AnalysisSpec& from = spec.analyses.at(st.source);
  const int64_t ranked = st.source_cells;
  const int64_t n_prompts = static_cast<int64_t>(source.reference.size());
  if (static_cast<int64_t>(source.values.size()) != n_prompts * ranked)
    throw Error("stage " + a.name + ": " + std::to_string(source.values.size()) +
                " source values for " + std::to_string(n_prompts) + " prompts of " +
                std::to_string(ranked) + " cells");
  std::vector<double> score(static_cast<size_t>(ranked), 0.0);
  for (int64_t c = 0; c < ranked; ++c) {
    for (int64_t p = 0; p < n_prompts; ++p) {
      const float v = source.values[static_cast<size_t>(p * ranked + c)];
      if (std::isnan(v))
        throw Error("stage " + a.name + ": " + from.name + " has no value for prompt " +
                    std::to_string(p) + ", cell " + std::to_string(c));
      score[c] += static_cast<double>(v) - source.reference[static_cast<size_t>(p)];
    }
    score[c] /= static_cast<double>(std::max<int64_t>(1, n_prompts));
  }
  std::vector<int64_t> order(static_cast<size_t>(ranked));
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](int64_t x, int64_t y) { return std::fabs(score[x]) > std::fabs(score[y]); });
  store::StageSelection s;
  s.analysis = a.name;
  s.source = from.name;
  s.ranked = ranked;
  s.top_k = std::min(st.top_k, ranked);
  s.chosen.assign(order.begin(), order.begin() + s.top_k);
  std::vector<int64_t> rest(order.begin() + s.top_k, order.end());
  std::sort(rest.begin(), rest.end());
  const int64_t draws = std::min<int64_t>(st.plus_random, static_cast<int64_t>(rest.size()));
  uint64_t state = st.seed;
  for (int64_t i = 0; i < draws; ++i) {
    const uint64_t left = static_cast<uint64_t>(rest.size()) - static_cast<uint64_t>(i);
    std::swap(rest[i], rest[i + static_cast<int64_t>(next_random(state) % left)]);
  }
  std::sort(rest.begin(), rest.begin() + draws);
  s.chosen.insert(s.chosen.end(), rest.begin(), rest.begin() + draws);
  for (int64_t c : s.chosen) {
    s.scores.push_back(score[c]);
    s.chosen_grid_cells.push_back(source_selection ? source_selection->cells.at(c) : c);
  }
  if (st.ranked_list) {  // circuit_faithfulness's nodes: no cells of its own, a name per node
    for (int64_t cell : s.chosen_grid_cells)
      s.labels.push_back(jobs::circuit_item_label(from, cell));
    return s;
  }
  const auto by_source = cells_by_source_cell(a.kind->grid(a), from.kind->grid(from));
  for (int64_t grid_cell : s.chosen_grid_cells) {
    const auto& mine = by_source.at(static_cast<size_t>(grid_cell));
    s.cells.insert(s.cells.end(), mine.begin(), mine.end());
  }
  const std::vector<jobs::Axis> grid = a.kind->grid(a);
  for (int64_t cell : s.cells) {
    std::string label;
    int64_t rest = cell;
    for (auto axis = grid.rbegin(); axis != grid.rend(); ++axis) {
      std::string value = axis->labels.at(static_cast<size_t>(rest % axis->size));
      if (axis->name == "receiver" && value.front() == '#') {  // "#1.k": the 2nd chosen head's k
        const size_t dot = value.find('.');
        const auto slot = static_cast<size_t>(std::stoll(value.substr(1, dot - 1)));
        value =
            jobs::circuit_node_label(jobs::circuit_node_of(from, s.chosen_grid_cells.at(slot))) +
            value.substr(dot);
      }
      const std::string entry = axis->name + "=" + value;
      label = label.empty() ? entry : entry + " " + label;
      rest /= axis->size;
    }
    s.labels.push_back(label);
  }
  if (static_cast<int64_t>(s.cells.size()) != st.cells)
    throw Error("stage " + a.name + ": chose " + std::to_string(s.cells.size()) +
                " cells where the plan has " + std::to_string(st.cells));
  return s;
}

StageTracker::StageTracker(const SweepSetup& setup, const std::filesystem::path& store_dir,
                           const std::vector<uint8_t>& already_done, bool slice, int level)
    : setup_(setup), dir_(store_dir), sources_(setup.spec.analyses.size()) {
  const auto& plan = setup.plan;
  const std::vector<int> levels = stage_levels(setup.spec);
  for (uint32_t i = 0; i < setup.spec.analyses.size(); ++i) {
    const auto& a = setup.spec.analyses[i];
    if (!a.stage || (level >= 0 && levels[i] != level)) continue;
    Stage st{i, a.stage->source, false, false, {}};
    for (const auto& sh : plan.shards)
      if (sh.analysis == i) st.shards.push_back(sh.id);
    if (auto sel = store::read_stage_selection(dir_, a.name)) {
      if (sel->source != a.stage->from || static_cast<int64_t>(sel->cells.size()) != a.stage->cells)
        throw error_at(store::stage_selection_file(dir_, a.name).string(), "cells",
                       "chosen for another job (" + std::to_string(sel->cells.size()) +
                           " cells from \"" + sel->source + "\")");
      st.chosen = true;
    }
    stages_.push_back(std::move(st));
    if (!sources_[a.stage->source]) {
      Source src;
      src.cells = plan.grids.at(a.stage->source).cells();
      src.values.assign(setup.spec.prompts.size() * static_cast<size_t>(src.cells), NAN);
      for (const auto& sh : plan.shards)
        if (sh.analysis == a.stage->source && !(sh.id < already_done.size() && already_done[sh.id]))
          ++src.shards_left;
      sources_[a.stage->source] = std::move(src);
    }
  }
  if (stages_.empty()) return;
  if (slice && level < 0)
    throw error_at("--slice", "",
                   "a job with stages (from:) runs under one coordinator, which "
                   "must see every shard; run it without --slice");
  bool need_store = false;
  for (const Stage& st : stages_) need_store = need_store || !st.chosen;
  if (!need_store) return;
  const store::StoreContents contents = store::read_store(dir_);
  for (uint32_t i = 0; i < sources_.size(); ++i) {
    if (!sources_[i]) continue;
    const auto& r = contents.analyses.at(i);
    for (size_t k = 0; k < r.values.size() && k < sources_[i]->values.size(); ++k)
      if (r.done[k]) sources_[i]->values[k] = r.values[k];
  }
}

std::vector<uint8_t> StageTracker::held() const {
  std::vector<uint8_t> out(setup_.plan.shards.size(), 0);
  for (const Stage& st : stages_)
    if (!st.chosen)
      for (uint32_t id : st.shards) out[id] = 1;
  return out;
}

std::vector<uint32_t> StageTracker::choose(Stage& st) {
  const jobs::JobSpec& spec = setup_.spec;
  const Source& src = *sources_[st.source];
  SourceResults results;
  results.values = src.values;
  const store::RecordedBaselines b = store::read_baselines(dir_, setup_.layout, setup_.spec_hash);
  const jobs::Baselines kind = spec.analyses[st.source].kind->reduce.baselines;
  for (size_t p = 0; p < spec.prompts.size(); ++p) {
    double ref = 0.0;
    if (b.known.at(st.source).at(p)) {
      if (kind == jobs::Baselines::Fraction) ref = b.values[st.source][p].corrupted;
      if (kind == jobs::Baselines::Ablation) ref = b.values[st.source][p].clean;
    }
    results.reference.push_back(ref);
  }
  std::optional<store::StageSelection> source_selection;
  if (spec.analyses[st.source].stage) {
    source_selection = store::read_stage_selection(dir_, spec.analyses[st.source].name);
    if (!source_selection)
      throw Error("stage " + spec.analyses[st.analysis].name + ": the cells of its source \"" +
                  spec.analyses[st.source].name + "\" were never chosen");
  }
  const store::StageSelection sel =
      choose_cells(spec, st.analysis, results, source_selection ? &*source_selection : nullptr);
  store::write_stage_selection(dir_, sel);
  st.chosen = true;
  log::get("coordinator")
      ->info("stage {}: chose {} of {} cells of {} ({} top, {} random): {} cells to run",
             sel.analysis, sel.chosen.size(), sel.ranked, sel.source, sel.top_k,
             sel.chosen.size() - static_cast<size_t>(sel.top_k), sel.cells.size());
  return st.shards;
}

std::vector<uint32_t> StageTracker::release_ready() {
  std::vector<uint32_t> out;
  for (Stage& st : stages_) {
    if (st.chosen || st.dead || sources_[st.source]->shards_left > 0) continue;
    const auto r = choose(st);
    out.insert(out.end(), r.begin(), r.end());
  }
  return out;
}

std::vector<uint32_t> StageTracker::on_done(uint32_t shard, const std::vector<float>& values) {
  if (shard >= setup_.plan.shards.size()) return {};
  const sharding::Shard& sh = setup_.plan.shards[shard];
  auto& src = sources_[sh.analysis];
  if (!src) return {};
  if (static_cast<int64_t>(values.size()) != sh.cells())
    throw Error("shard " + std::to_string(shard) + ": " + std::to_string(values.size()) +
                " values came back for " + std::to_string(sh.cells()) +
                " cells (a later stage needs them)");
  std::copy(
      values.begin(), values.end(),
      src->values.begin() + static_cast<std::ptrdiff_t>(sh.prompt * src->cells + sh.cell_begin));
  --src->shards_left;
  return release_ready();
}

std::vector<uint32_t> StageTracker::on_failed(uint32_t shard, std::string* reason) {
  if (shard >= setup_.plan.shards.size()) return {};
  const uint32_t failed = setup_.plan.shards[shard].analysis;
  std::vector<uint8_t> dead(setup_.spec.analyses.size(), 0);
  dead[failed] = 1;
  std::vector<uint32_t> out;
  for (Stage& st : stages_) {  // stages come in job order: a chain is followed in one pass
    if (st.chosen || st.dead || !dead[st.source]) continue;
    st.dead = true;
    dead[st.analysis] = 1;
    out.insert(out.end(), st.shards.begin(), st.shards.end());
  }
  if (reason)
    *reason = "its stage input \"" + setup_.spec.analyses[failed].name +
              "\" is incomplete: shard " + std::to_string(shard) + " failed";
  return out;
}

}  // namespace csweep::orchestrator
