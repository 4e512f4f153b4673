#pragma once
// The BPE merge loop over one pre-token, on vocabulary ids. A pre-token starts as one symbol per
// byte (byte-level BPE) or per UTF-8 character (SentencePiece-style BPE: Gemma) and merges by
// rank (lowest first, leftmost first among equals), which gives the same result as
// openai/gpt-2's "merge every occurrence of the best pair" loop and as Hugging Face's priority
// queue.
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

// The first symbols of a word. Byte-level: byte_ids[b] is the token of byte b (-1 if the
// vocabulary lacks it). Character-level: each character's token in `chars`; a character outside
// it becomes its bytes' <0xNN> tokens (byte_ids) with byte_fallback, else the unk token (a run
// of such characters one unk with fuse_unk), as Hugging Face's BPE does.
struct Alphabet {
  std::array<int32_t, 256> byte_ids;
  bool characters = false;
  std::unordered_map<std::string, int32_t> chars;
  bool byte_fallback = false, fuse_unk = false;
};

class Bpe {
 public:
  // merges in rank order. whole_tokens (raw bytes → id) serves ignore_merges: a pre-token
  // that is itself in the vocabulary is emitted as is (Llama 3).
  Bpe(Alphabet alphabet, const std::vector<Merge>& merges,
      std::unordered_map<std::string, int32_t> whole_tokens, bool ignore_merges, int32_t unk_id);

  // Appends the ids of one pre-token (raw bytes) to out. Returns false if a byte has no
  // token and there is no unk token (the caller reports it with its file name).
  bool encode_word(std::string_view bytes, std::vector<int64_t>& out) const;

 private:
  bool merge_word(std::string_view bytes, std::vector<int32_t>& ids) const;
  bool first_symbols(std::string_view bytes, std::vector<int32_t>& sym) const;

  Alphabet alphabet_;
  std::unordered_map<uint64_t, std::pair<int32_t, int32_t>>
      ranks_;  // (left,right) → (rank, merged)
  std::unordered_map<std::string, int32_t> whole_tokens_;
  bool ignore_merges_;
  int32_t unk_id_;

  // Natural text repeats its words: caching a word's ids makes encoding ~5x faster. Longer
  // "words" (a SentencePiece-style BPE sees a whole text as one) are not cached.
  static constexpr size_t kCacheLimit = 200000;
  static constexpr size_t kCachedWordBytes = 256;
  mutable std::shared_mutex cache_mutex_;
  mutable std::unordered_map<std::string, std::vector<int32_t>> cache_;
};

}  // namespace csweep::model::tokenizer
