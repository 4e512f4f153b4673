#include "model/checkpoint_files.h"

#include <algorithm>
#include <fstream>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

#include "common/error.h"
#include "common/log.h"

namespace csweep::model {

namespace fs = std::filesystem;

namespace {

constexpr const char* kSingleFile = "model.safetensors";
constexpr const char* kIndexFile = "model.safetensors.index.json";

// The name -> shard file map of model.safetensors.index.json, checked for shape only.
std::map<std::string, std::string> read_weight_map(const fs::path& index_path) {
  const std::string file = index_path.string();
  std::ifstream in(index_path, std::ios::binary);
  if (!in) throw error_at(file, "", "cannot open");
  std::stringstream text;
  text << in.rdbuf();
  nlohmann::json index;
  try {
    index = nlohmann::json::parse(text.str());
  } catch (const nlohmann::json::parse_error& e) {
    if (e.byte > text.str().size())
      throw error_at(
          file, "",
          "not valid JSON (it ends early, after " + std::to_string(text.str().size()) + " bytes)");
    throw error_at(file, "", "not valid JSON (error at character " + std::to_string(e.byte) + ")");
  } catch (const nlohmann::json::out_of_range&) {  // a number such as 1e5555
    throw error_at(file, "", "not valid JSON (a number is out of range)");
  }
  if (!index.is_object()) throw error_at(file, "", "not a JSON object");
  if (!index.contains("weight_map")) throw error_at(file, "weight_map", "missing");
  const auto& map = index["weight_map"];
  if (!map.is_object()) throw error_at(file, "weight_map", "is not an object");
  if (map.empty()) throw error_at(file, "weight_map", "is empty");
  std::map<std::string, std::string> weight_map;
  for (auto it = map.begin(); it != map.end(); ++it) {
    const std::string what = "tensor '" + it.key() + "'";
    if (!it.value().is_string()) throw error_at(file, what, "weight_map value is not a string");
    const std::string shard = it.value().get<std::string>();
    const fs::path shard_path(shard);
    // Shards live beside the index; a path leaving the folder is a broken or hostile index.
    if (shard.empty() || shard_path.is_absolute() ||
        std::any_of(shard_path.begin(), shard_path.end(),
                    [](const fs::path& p) { return p == ".."; }))
      throw error_at(file, what,
                     "mapped to '" + shard + "', which is not a file name inside the folder");
    weight_map[it.key()] = shard;
  }
  return weight_map;
}

[[noreturn]] void throw_nothing_to_load(const fs::path& dir) {
  const std::string folder = dir.string();
  for (const char* torch_file : {"pytorch_model.bin", "pytorch_model.bin.index.json"})
    if (fs::exists(dir / torch_file))
      throw error_at(folder, "",
                     std::string("found ") + torch_file +
                         " but only safetensors checkpoints are supported (convert it, e.g. "
                         "save_pretrained(..., safe_serialization=True))");
  std::vector<std::string> others;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.path().extension() == ".safetensors") others.push_back(e.path().filename().string());
  std::sort(others.begin(), others.end());
  std::string found;
  for (const auto& o : others) found += (found.empty() ? "" : ", ") + o;
  throw error_at(folder, "",
                 std::string("no ") + kSingleFile + " or " + kIndexFile + " in this folder" +
                     (found.empty() ? "" : " (found " + found + ")"));
}

}  // namespace

CheckpointFiles CheckpointFiles::open(const fs::path& dir) {
  const std::string folder = dir.string();
  std::error_code ec;
  if (!fs::exists(dir, ec)) throw error_at(folder, "", "checkpoint folder does not exist");
  if (!fs::is_directory(dir, ec)) throw error_at(folder, "", "not a folder");

  CheckpointFiles result;
  result.dir_ = dir;
  // Hugging Face prefers the single file when both are present; so do we.
  if (fs::exists(dir / kSingleFile)) {
    auto file = SafetensorsFile::open(dir / kSingleFile);
    for (const auto& t : file->tensors()) result.entries_[t.name] = &t;
    result.files_.push_back(std::move(file));
  } else if (fs::exists(dir / kIndexFile)) {
    const fs::path index_path = dir / kIndexFile;
    const std::string index_file = index_path.string();
    const auto weight_map = read_weight_map(index_path);
    std::set<std::string> shard_names;
    for (const auto& [name, shard] : weight_map) {
      if (shard_names.count(shard)) continue;
      if (!fs::is_regular_file(dir / shard))
        throw error_at(index_file, "tensor '" + name + "'",
                       "mapped to '" + shard + "', which does not exist");
      shard_names.insert(shard);
    }
    std::map<std::string, const SafetensorsFile*> by_name;
    for (const auto& shard : shard_names) {
      auto file = SafetensorsFile::open(dir / shard);
      by_name[shard] = file.get();
      result.files_.push_back(std::move(file));
    }
    // Every tensor must be where the index says, and nowhere else.
    for (const auto& [name, shard] : weight_map) {
      const TensorEntry* entry = by_name[shard]->find(name);
      if (!entry)
        throw error_at(index_file, "tensor '" + name + "'",
                       "mapped to '" + shard + "', which does not contain it");
      result.entries_[name] = entry;
    }
    for (const auto& file : result.files_) {
      const std::string shard = file->path().filename().string();
      for (const auto& t : file->tensors()) {
        auto it = weight_map.find(t.name);
        if (it == weight_map.end())
          throw error_at(index_file, "tensor '" + t.name + "'",
                         "present in '" + shard + "' but missing from weight_map");
        if (it->second != shard)
          throw error_at(index_file, "tensor '" + t.name + "'",
                         "present in both '" + it->second + "' and '" + shard + "'");
      }
    }
  } else {
    throw_nothing_to_load(dir);
  }
  log::get("model")->info("checkpoint {}: {} tensors in {} file(s), {} bytes", folder,
                          result.entries_.size(), result.files_.size(), result.total_bytes());
  return result;
}

const TensorEntry* CheckpointFiles::find(const std::string& name) const {
  auto it = entries_.find(name);
  return it == entries_.end() ? nullptr : it->second;
}

std::vector<std::string> CheckpointFiles::names() const {
  std::vector<std::string> out;
  out.reserve(entries_.size());
  for (const auto& [name, entry] : entries_) out.push_back(name);
  return out;
}

size_t CheckpointFiles::total_bytes() const {
  size_t total = 0;
  for (const auto& [name, entry] : entries_) total += entry->nbytes;
  return total;
}

}  // namespace csweep::model
