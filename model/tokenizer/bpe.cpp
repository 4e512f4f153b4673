#include "model/tokenizer/bpe.h"

#include <algorithm>
#include <queue>

#include "model/tokenizer/utf8.h"

namespace csweep::model::tokenizer {
namespace {

uint64_t pair_key(int32_t left, int32_t right) {
  return (static_cast<uint64_t>(static_cast<uint32_t>(left)) << 32) | static_cast<uint32_t>(right);
}

struct Candidate {
  int32_t rank, pos, left, right;
  bool operator>(const Candidate& o) const { return rank != o.rank ? rank > o.rank : pos > o.pos; }
};

}  // namespace

Bpe::Bpe(Alphabet alphabet, const std::vector<Merge>& merges,
         std::unordered_map<std::string, int32_t> whole_tokens, bool ignore_merges, int32_t unk_id)
    : alphabet_(std::move(alphabet)),
      whole_tokens_(std::move(whole_tokens)),
      ignore_merges_(ignore_merges),
      unk_id_(unk_id) {
  ranks_.reserve(merges.size() * 2);
  for (size_t r = 0; r < merges.size(); ++r)  // a repeated pair keeps its first (best) rank
    ranks_.emplace(pair_key(merges[r].left, merges[r].right),
                   std::make_pair(static_cast<int32_t>(r), merges[r].merged));
}

bool Bpe::first_symbols(std::string_view bytes, std::vector<int32_t>& sym) const {
  const auto& byte_ids = alphabet_.byte_ids;
  if (!alphabet_.characters) {
    for (char b : bytes) {
      const int32_t id = byte_ids[static_cast<unsigned char>(b)];
      if (id < 0 && unk_id_ < 0) return false;
      sym.push_back(id < 0 ? unk_id_ : id);
    }
    return true;
  }
  bool after_unk = false;
  for (std::string_view c : utf8_chars(bytes)) {
    auto it = alphabet_.chars.find(std::string(c));
    if (it != alphabet_.chars.end()) {
      sym.push_back(it->second);
      after_unk = false;
      continue;
    }
    if (alphabet_.byte_fallback && std::all_of(c.begin(), c.end(), [&](char b) {
          return byte_ids[static_cast<unsigned char>(b)] >= 0;
        })) {
      for (char b : c) sym.push_back(byte_ids[static_cast<unsigned char>(b)]);
      after_unk = false;
      continue;
    }
    if (unk_id_ < 0) return false;
    if (!(alphabet_.fuse_unk && after_unk)) sym.push_back(unk_id_);
    after_unk = true;
  }
  return true;
}

bool Bpe::merge_word(std::string_view bytes, std::vector<int32_t>& ids) const {
  std::vector<int32_t> sym;
  sym.reserve(bytes.size());
  if (!first_symbols(bytes, sym)) return false;
  const auto n = static_cast<int32_t>(sym.size());
  std::vector<int32_t> prev(n), next(n);
  for (int32_t i = 0; i < n; ++i) {
    prev[i] = i - 1;
    next[i] = i + 1 < n ? i + 1 : -1;
  }
  std::priority_queue<Candidate, std::vector<Candidate>, std::greater<Candidate>> queue;
  auto consider = [&](int32_t pos) {
    int32_t nx = next[pos];
    if (nx < 0) return;
    auto it = ranks_.find(pair_key(sym[pos], sym[nx]));
    if (it != ranks_.end()) queue.push({it->second.first, pos, sym[pos], sym[nx]});
  };
  for (int32_t i = 0; i + 1 < n; ++i) consider(i);
  while (!queue.empty()) {
    Candidate c = queue.top();
    queue.pop();
    int32_t nx = next[c.pos];
    // Stale entries (a side already merged away) are skipped: the pair must still be there.
    if (sym[c.pos] != c.left || nx < 0 || sym[nx] != c.right) continue;
    sym[c.pos] = ranks_.at(pair_key(c.left, c.right)).second;
    sym[nx] = -1;
    next[c.pos] = next[nx];
    if (next[nx] >= 0) prev[next[nx]] = c.pos;
    if (prev[c.pos] >= 0) consider(prev[c.pos]);
    consider(c.pos);
  }
  ids.clear();
  for (int32_t i = 0; i >= 0 && i < n; i = next[i]) ids.push_back(sym[i]);
  return true;
}

bool Bpe::encode_word(std::string_view bytes, std::vector<int64_t>& out) const {
  if (bytes.empty()) return true;
  if (ignore_merges_) {
    auto it = whole_tokens_.find(std::string(bytes));
    if (it != whole_tokens_.end()) {
      out.push_back(it->second);
      return true;
    }
  }
  std::string key(bytes);
  const bool cached = key.size() <= kCachedWordBytes;
  if (cached) {
    std::shared_lock lock(cache_mutex_);
    auto it = cache_.find(key);
    if (it != cache_.end()) {
      out.insert(out.end(), it->second.begin(), it->second.end());
      return true;
    }
  }
  std::vector<int32_t> ids;
  if (!merge_word(bytes, ids)) return false;
  out.insert(out.end(), ids.begin(), ids.end());
  if (!cached) return true;
  std::unique_lock lock(cache_mutex_);
  if (cache_.size() < kCacheLimit) cache_.emplace(std::move(key), std::move(ids));
  return true;
}

}  // namespace csweep::model::tokenizer
