#pragma once
// What provenance.json records about the software and the model. The coordinator adds one
// entry per run (hosts, ranks, seed, start/end, outcome) to provenance["runs"].
#include <filesystem>
#include <string>

#include <nlohmann/json.hpp>

namespace csweep::store {

// {"csweep_version", "git_sha" (of the source tree at configure time), "hdf5_version", "compiler"}
nlohmann::json build_info();

// Files up to kFullHashLimit bytes get a full XXH3-128 ("xxh3-128": ~10 GB/s, so hashing costs
// about one read of the file; SHA-256 ran at ~250 MB/s on CPUs without SHA instructions and
// was most of a small sweep's start-up); bigger ones (a 140 GB checkpoint on a shared
// filesystem) get "xxh3-128-sampled": XXH3-128 of the size (decimal, then a newline), the first
// 16 MiB and the last 16 MiB — enough to tell checkpoints apart, cheap enough for every run.
// Hashes every regular file directly in `model_dir`, sorted by name:
// [{"file", "bytes", "hash_kind", "hash"}]. Identifies content; not a defence against forgery.
constexpr uint64_t kFullHashLimit = 512ull << 20;
constexpr const char* kModelHashKind = "xxh3-128";
nlohmann::json hash_model_files(const std::filesystem::path& model_dir);

// The model's identity in the spec hash (jobs::canonical_hash): XXH3-128 (hex) over the name
// and hash of config.json and of every weight file (*.safetensors and its index) among
// hash_model_files()'s entries. Where the folder sits is no part of it; tokenizer files are
// not either (prompts enter the spec hash as token ids).
std::string model_content_hash(const nlohmann::json& model_files);

// Whether two hash_model_files() results used the same hash kinds file by file (a store started
// by an older csweep recorded SHA-256: those cannot be compared with XXH3 hashes).
bool same_hash_kinds(const nlohmann::json& a, const nlohmann::json& b);

}  // namespace csweep::store
