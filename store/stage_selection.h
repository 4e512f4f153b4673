#pragma once
// STORE/stages/<analysis>.json: the cells a stage analysis (`from:`, jobs/job_spec.h StageSpec)
// runs on, chosen by the coordinator from its source's results once every shard of the source
// was done (orchestrator/stages.h). Written once, atomically; a rerun reads it instead of
// choosing again, so a sweep killed mid-stage resumes on the same cells, and reduce labels the
// stage's results with it. Torch-free, HDF5-free.
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace csweep::store {

struct StageSelection {
  std::string analysis;  // the stage analysis
  std::string source;    // the analysis it was chosen from
  int64_t ranked = 0;    // source cells the ranking covered (per prompt)
  int64_t top_k = 0;     // chosen[0, top_k) are the best ranked; the rest the seeded random draw
  // Per chosen source cell, in order: its index in the source's result row, the same cell of
  // the source kind's grid (differs when the source is itself a stage) and its ranking score,
  // the mean effect over the prompts.
  std::vector<int64_t> chosen;
  std::vector<int64_t> chosen_grid_cells;
  std::vector<double> scores;
  // This analysis's cells, as cells of its kind's grid, in the order it computes them: for each
  // chosen source cell, every cell that shares its coordinates (row-major).
  std::vector<int64_t> cells;
  // Per cell: its coordinates, "layer=1 pos=13 head=2". A ranked list (circuit_faithfulness) has
  // no cells of its own: one node name per chosen cell instead, "a1.h2" or "m0".
  std::vector<std::string> labels;

  nlohmann::json to_json() const;
  // Throws csweep::Error naming `file` and the field when the JSON is not a selection.
  static StageSelection from_json(const nlohmann::json& j, const std::string& file);
};

std::filesystem::path stage_selection_file(const std::filesystem::path& store_dir,
                                           const std::string& analysis);
void write_stage_selection(const std::filesystem::path& store_dir, const StageSelection& s);
// nullopt when the file does not exist; throws csweep::Error when it is damaged.
std::optional<StageSelection> read_stage_selection(const std::filesystem::path& store_dir,
                                                   const std::string& analysis);

}  // namespace csweep::store
