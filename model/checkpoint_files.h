#pragma once
// The weight files of a Hugging Face checkpoint folder, as one name -> tensor lookup:
// either a single `model.safetensors`, or `model.safetensors.index.json` (its `weight_map`
// maps each tensor name to a shard file such as `model-00001-of-00002.safetensors`).
// Every file is memory-mapped once and validated; the index is checked against the shards
// (each mapped file exists and holds the tensors mapped to it; no tensor in two shards).
// Torch-free.
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "model/safetensors.h"

namespace csweep::model {

class CheckpointFiles {
 public:
  // Throws csweep::Error naming the folder (nothing to load, only pytorch_model.bin) or the
  // index file and tensor (index and shards disagree), or whatever SafetensorsFile::open throws.
  static CheckpointFiles open(const std::filesystem::path& dir);

  const TensorEntry* find(const std::string& name) const;  // nullptr if absent
  std::vector<std::string> names() const;                  // sorted
  const std::filesystem::path& dir() const { return dir_; }
  // The files that were mapped, in the order of their names (one for a single-file checkpoint).
  const std::vector<std::shared_ptr<SafetensorsFile>>& files() const { return files_; }
  size_t total_bytes() const;  // sum of all tensors' nbytes

 private:
  std::filesystem::path dir_;
  std::vector<std::shared_ptr<SafetensorsFile>> files_;
  std::map<std::string, const TensorEntry*> entries_;  // points into files_ (kept alive by them)
};

}  // namespace csweep::model
