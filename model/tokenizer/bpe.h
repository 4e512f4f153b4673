#pragma once
// The BPE merge loop over one pre-token, on vocabulary ids. Byte-level: a pre-token starts as
// one symbol per byte and merges by rank (lowest first, leftmost first among equals), which
// gives the same result as openai/gpt-2's "merge every occurrence of the best pair" loop and
// as Hugging Face's priority queue.
#include <array>
#include <cstdint>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace csweep::model::tokenizer {

struct Merge {
  int32_t left, right, merged;
};

class Bpe {
 public:
  // byte_ids[b]: the id of the token for the single byte b, -1 if the vocabulary lacks it.
  // merges in rank order. whole_tokens (raw bytes → id) serves ignore_merges: a pre-token
  // that is itself in the vocabulary is emitted as is (Llama 3).
  Bpe(std::array<int32_t, 256> byte_ids, const std::vector<Merge>& merges,
      std::unordered_map<std::string, int32_t> whole_tokens, bool ignore_merges, int32_t unk_id);

  // Appends the ids of one pre-token (raw bytes) to out. Returns false if a byte has no
  // token and there is no unk token (the caller reports it with its file name).
  bool encode_word(std::string_view bytes, std::vector<int64_t>& out) const;

 private:
  bool merge_word(std::string_view bytes, std::vector<int32_t>& ids) const;

  std::array<int32_t, 256> byte_ids_;
  std::unordered_map<uint64_t, std::pair<int32_t, int32_t>>
      ranks_;  // (left,right) → (rank, merged)
  std::unordered_map<std::string, int32_t> whole_tokens_;
  bool ignore_merges_;
  int32_t unk_id_;

  // Natural text repeats its words: caching a word's ids makes encoding ~5x faster.
  static constexpr size_t kCacheLimit = 200000;
  mutable std::shared_mutex cache_mutex_;
  mutable std::unordered_map<std::string, std::vector<int32_t>> cache_;
};

}  // namespace csweep::model::tokenizer
