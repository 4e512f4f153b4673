#include "store/stage_selection.h"

#include <fstream>
#include <sstream>

#include "common/error.h"
#include "store/store.h"

namespace csweep::store {

nlohmann::json StageSelection::to_json() const {
  return {{"format", "csweep.stage/1"},
          {"analysis", analysis},
          {"source", source},
          {"ranked", ranked},
          {"top_k", top_k},
          {"chosen", chosen},
          {"chosen_grid_cells", chosen_grid_cells},
          {"scores", scores},
          {"cells", cells},
          {"labels", labels}};
}

StageSelection StageSelection::from_json(const nlohmann::json& j, const std::string& file) {
  if (!j.is_object() || j.value("format", "") != "csweep.stage/1")
    throw error_at(file, "format", "not a csweep stage selection (csweep.stage/1)");
  StageSelection s;
  try {
    s.analysis = j.at("analysis").get<std::string>();
    s.source = j.at("source").get<std::string>();
    s.ranked = j.at("ranked").get<int64_t>();
    s.top_k = j.at("top_k").get<int64_t>();
    s.chosen = j.at("chosen").get<std::vector<int64_t>>();
    s.chosen_grid_cells = j.at("chosen_grid_cells").get<std::vector<int64_t>>();
    s.scores = j.at("scores").get<std::vector<double>>();
    s.cells = j.at("cells").get<std::vector<int64_t>>();
    s.labels = j.at("labels").get<std::vector<std::string>>();
  } catch (const nlohmann::json::exception& e) {
    throw error_at(file, "stage", e.what());
  }
  if (s.chosen.size() != s.scores.size() || s.chosen.size() != s.chosen_grid_cells.size())
    throw error_at(file, "chosen", "chosen, chosen_grid_cells and scores differ in length");
  if (s.labels.size() != (s.cells.empty() ? s.chosen.size() : s.cells.size()))
    throw error_at(file, "labels", "not one per cell (or, for a ranked list, per chosen cell)");
  return s;
}

std::filesystem::path stage_selection_file(const std::filesystem::path& store_dir,
                                           const std::string& analysis) {
  return store_dir / "stages" / (analysis + ".json");
}

void write_stage_selection(const std::filesystem::path& store_dir, const StageSelection& s) {
  std::filesystem::create_directories(store_dir / "stages");
  write_file_atomic(stage_selection_file(store_dir, s.analysis), s.to_json().dump(1) + "\n");
}

std::optional<StageSelection> read_stage_selection(const std::filesystem::path& store_dir,
                                                   const std::string& analysis) {
  const auto file = stage_selection_file(store_dir, analysis);
  std::ifstream in(file);
  if (!in) return std::nullopt;
  std::stringstream text;
  text << in.rdbuf();
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(text.str());
  } catch (const nlohmann::json::exception& e) {
    throw error_at(file.string(), "stage", std::string("not JSON: ") + e.what());
  }
  return StageSelection::from_json(j, file.string());
}

}  // namespace csweep::store
