#pragma once
// What provenance.json records about the software and the model. The coordinator adds one
// entry per run (hosts, ranks, seed, start/end, outcome) to provenance["runs"].
#include <filesystem>

#include <nlohmann/json.hpp>

namespace csweep::store {

// {"csweep_version", "git_sha" (of the source tree at configure time), "hdf5_version", "compiler"}
nlohmann::json build_info();

// Files up to kFullHashLimit bytes get a full SHA-256 ("sha256"); bigger ones (a 26 GB
// checkpoint would take minutes) get "sha256-sampled": SHA-256 of the size (decimal, then a
// newline), the first 16 MiB and the last 16 MiB — enough to tell checkpoints apart, cheap
// enough for every run. Hashes every regular file directly in `model_dir`, sorted by name:
// [{"file", "bytes", "hash_kind", "hash"}].
constexpr uint64_t kFullHashLimit = 512ull << 20;
nlohmann::json hash_model_files(const std::filesystem::path& model_dir);

}  // namespace csweep::store
