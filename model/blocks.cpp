// The blocks, top to bottom: for each block, the groups that start there join the packed batch,
// then ln1 -> q/k/v -> attention per run of equal first positions -> z -> W_O -> (resid_mid) ->
// ln2 -> MLP -> resid_post, every hook visited in TransformerLens order.
#include "model/blocks.h"

#include <algorithm>

#include "common/error.h"
#include "model/layers.h"

namespace csweep::model {
namespace {

// One group's rows in a packed matrix: `rows` x `count` token rows (positions
// [first, first + count)) starting at row `offset`.
struct Span {
  size_t group = 0;
  int64_t rows = 0, first = 0, count = 0, offset = 0;
  int64_t tokens() const { return rows * count; }
};
using Layout = std::vector<Span>;

int64_t assign_offsets(Layout& layout) {
  int64_t offset = 0;
  for (Span& s : layout) {
    s.offset = offset;
    offset += s.tokens();
  }
  return offset;
}

// A span's rows of a packed tensor [tokens, ...] as [rows, count, ...] (a view).
at::Tensor view_of(const at::Tensor& packed, const Span& s) {
  std::vector<int64_t> shape{s.rows, s.count};
  shape.insert(shape.end(), packed.sizes().begin() + 1, packed.sizes().end());
  return packed.narrow(0, s.offset, s.tokens()).view(shape);
}

// [rows, count, ...] -> [rows * count, ...]
at::Tensor flat(const at::Tensor& x) {
  std::vector<int64_t> shape{x.size(0) * x.size(1)};
  shape.insert(shape.end(), x.sizes().begin() + 2, x.sizes().end());
  return x.reshape(shape);
}

at::Tensor pack(const std::vector<at::Tensor>& pieces) {
  return pieces.size() == 1 ? pieces[0] : at::cat(pieces, 0);
}

// positions [from, from + count) of a cached batch-1 activation, copied once per row (fresh
// memory: hooks may edit it in place) and flattened to token rows.
at::Tensor cached_rows(const at::Tensor& cached, int64_t from, int64_t count, int64_t rows) {
  std::vector<int64_t> reps(static_cast<size_t>(cached.dim()), 1);
  reps[0] = rows;
  return flat(cached.narrow(1, from, count).repeat(reps));
}

HookPoint keys_point(const ModelConfig& c) {
  return c.rotary_dim > 0 ? HookPoint::AttnRotK : HookPoint::AttnK;
}

class Blocks {
 public:
  Blocks(const BlockRun& run, const std::vector<BlockGroup>& groups)
      : run_(run), c_(run.config), tp_(run.tp), groups_(groups) {}

  // Block by block: the groups that start there join the packed batch (whole blocks) or enter
  // it after attention; the block runs once over all of them; the rows a group hands on (to the
  // next block, or as its output after the last) are taken out of the block's result.
  std::vector<at::Tensor> run() {
    std::vector<at::Tensor> out(groups_.size());
    int64_t begin = run_.stop_layer;
    for (const BlockGroup& g : groups_) begin = std::min(begin, g.start_layer);
    Layout active;  // the groups running whole blocks, sorted by first position
    at::Tensor x;   // their packed residual
    std::vector<std::pair<Span, at::Tensor>> joining;  // groups that join at the next block
    for (int64_t l = begin; l < run_.stop_layer; ++l) {
      add_starting_groups(l, joining);
      if (!joining.empty()) join(active, x, joining);
      Entering entering = entering_groups(l);
      if (active.empty() && entering.layout.empty()) continue;

      // Attention of the whole-block groups; B: the positions whose outputs are wanted.
      Attended attended;
      if (!active.empty()) attended = attention_half(l, active, x);
      const Layout& B = attended.B;
      // The rest of the block for B and the entering groups together.
      Layout C = B;
      C.insert(C.end(), entering.layout.begin(), entering.layout.end());
      assign_offsets(C);
      std::vector<at::Tensor> zs, xs;
      if (!B.empty()) {
        zs.push_back(attended.z);
        xs.push_back(attended.resid);
      }
      zs.insert(zs.end(), entering.z.begin(), entering.z.end());
      xs.insert(xs.end(), entering.x.begin(), entering.x.end());
      at::Tensor resid_post = post_attention_half(l, C, pack(zs), pack(xs));

      const bool last = l + 1 == run_.stop_layer;
      hand_on(l, C, B.size(), resid_post, last, joining, out);
      if (!last && !B.empty())
        x = resid_post.narrow(0, 0, C[B.size() - 1].offset + C[B.size() - 1].tokens());
    }
    return out;
  }

 private:
  const BlockRun& run_;
  const ModelConfig& c_;  // this rank's heads and neurons (the model's config on one rank)
  const TensorParallel& tp_;
  const std::vector<BlockGroup>& groups_;

  // A site of the cached run; of a head site, this rank's heads (the cache holds every head).
  at::Tensor cached(const HookSite& site) const {
    if (!run_.cached) throw Error("forward: " + site.name() + ": resuming needs a cached run");
    auto it = run_.cached->find(site);
    if (it == run_.cached->end())
      throw Error("forward: " + site.name() + ": not in the cached run");
    return tp_.local_part(tp_split(site.point), it->second, is_pattern_point(site.point) ? 1 : 2);
  }
  // The cached residual after block l (resid_pre of l + 1, or the last block's resid_post).
  at::Tensor cached_after(int64_t l) const {
    return l + 1 < c_.n_layers ? cached({HookPoint::ResidPre, l + 1})
                               : cached({HookPoint::ResidPost, l});
  }
  Hooks* hooks_of(const Span& s) const { return groups_[s.group].hooks; }

  // Groups that start at block l with the whole block: their resid_pre rows join the batch.
  void add_starting_groups(int64_t l, std::vector<std::pair<Span, at::Tensor>>& joining) const {
    for (size_t g = 0; g < groups_.size(); ++g) {
      const BlockGroup& bg = groups_[g];
      if (bg.start_layer != l || bg.attn_end > bg.first) continue;
      Span s{g, bg.rows, bg.first, run_.seq - bg.first};
      joining.emplace_back(s, bg.start.defined() ? bg.start
                                                 : cached_rows(cached({HookPoint::ResidPre, l}),
                                                               bg.first, s.count, bg.rows));
    }
  }

  // Groups that enter block l after attention: positions [first, attn_end) from the cached z
  // and resid_pre.
  struct Entering {
    Layout layout;
    std::vector<at::Tensor> z, x;
  };
  Entering entering_groups(int64_t l) const {
    Entering e;
    for (size_t g = 0; g < groups_.size(); ++g) {
      const BlockGroup& bg = groups_[g];
      if (bg.start_layer != l || bg.attn_end <= bg.first) continue;
      const int64_t count = bg.attn_end - bg.first;
      e.layout.push_back({g, bg.rows, bg.first, count});
      e.z.push_back(cached_rows(cached({HookPoint::AttnZ, l}), bg.first, count, bg.rows));
      e.x.push_back(cached_rows(cached({HookPoint::ResidPre, l}), bg.first, count, bg.rows));
    }
    return e;
  }

  // After block l: an entered group (C's spans from index `whole` on) gets the cached run's
  // positions after attn_end and joins the next block whole; after the last block every group's
  // rows are its output.
  void hand_on(int64_t l, const Layout& C, size_t whole, const at::Tensor& resid_post, bool last,
               std::vector<std::pair<Span, at::Tensor>>& joining,
               std::vector<at::Tensor>& out) const {
    for (size_t i = 0; i < C.size(); ++i) {
      const Span& s = C[i];
      const bool entered = i >= whole;
      if (!entered && !last) continue;
      at::Tensor rows = view_of(resid_post, s);
      if (entered) {
        const int64_t from = s.first + s.count;
        if (from < run_.seq)
          rows = at::cat({rows, cached_rows(cached_after(l), from, run_.seq - from, s.rows)
                                    .view({s.rows, run_.seq - from, -1})},
                         1);
        if (!last) {
          joining.emplace_back(Span{s.group, s.rows, s.first, run_.seq - s.first}, flat(rows));
          continue;
        }
      }
      out[s.group] = rows;
    }
  }

  // Merges the joining groups into the packed batch, keeping it sorted by first position so
  // that groups sharing a prefix are adjacent (one attention call for all of them).
  void join(Layout& active, at::Tensor& x, std::vector<std::pair<Span, at::Tensor>>& joining) {
    std::vector<std::pair<Span, at::Tensor>> all;
    for (const Span& s : active) all.emplace_back(s, flat(view_of(x, s)));
    for (auto& j : joining) all.push_back(std::move(j));
    joining.clear();
    std::stable_sort(all.begin(), all.end(),
                     [](const auto& a, const auto& b) { return a.first.first < b.first.first; });
    active.clear();
    std::vector<at::Tensor> pieces;
    for (auto& [s, t] : all) {
      active.push_back(s);
      pieces.push_back(t);
    }
    assign_offsets(active);
    x = pack(pieces);
  }

  // Under tensor parallelism, when one of the groups hooks a sharded site: `fn` runs on the full
  // activation gathered from every rank (axis 1 of every packed sharded activation), and the
  // rank keeps its part of what the hooks left. Every rank runs the same hooks in the same
  // order, so the gathers match; the hooks see what one process would show them.
  // `hooked()` is asked only under tensor parallelism, at split sites.
  template <typename Hooked, typename Fn>
  void on_full(HookPoint point, Hooked hooked, at::Tensor& act, Fn fn) const {
    const TpSplit split = tp_split(point);
    if (!tp_.active() || split == TpSplit::Replicated || !hooked()) {
      fn(act);
      return;
    }
    at::Tensor full = tp_.gather(split, act, 1);
    fn(full);
    act = tp_.local_part(split, full, 1).contiguous();
  }

  // Each group's hooks at (point, layer) on its rows of `packed`.
  void visit(HookPoint point, int64_t layer, const Layout& layout, at::Tensor& packed) const {
    on_full(
        point, [&] { return any_active(layout, {point}, layer); }, packed,
        [&](at::Tensor& act) { visit_rows(point, layer, layout, act); });
  }

  // A lone group works on the whole tensor (a hook's replacement becomes the tensor: autograd
  // sees it); otherwise a replacement is copied back into the group's rows.
  void visit_rows(HookPoint point, int64_t layer, const Layout& layout, at::Tensor& packed) const {
    const HookSite site{point, layer};
    for (const Span& s : layout) {
      Hooks* h = hooks_of(s);
      if (!h || !h->active(site)) continue;
      at::Tensor view = view_of(packed, s);
      at::Tensor act = view;
      h->run(site, act);
      if (layout.size() == 1)
        packed = act.reshape(packed.sizes());
      else if (!act.is_same(view))
        copy_back(site, view, act);
    }
  }

  // A hook's replacement of its group's rows, written into the packed tensor. It must be what
  // the hook was given in shape and dtype: a silent cast or broadcast here would make a hook's
  // effect depend on which other groups share the call.
  static void copy_back(const HookSite& site, at::Tensor& rows, const at::Tensor& replacement) {
    if (replacement.sizes() != rows.sizes() || replacement.scalar_type() != rows.scalar_type())
      throw Error("hook " + site.name() +
                  ": replaced its activation with a different shape or dtype");
    rows.copy_(replacement);
  }

  bool any_active(const Layout& layout, std::initializer_list<HookPoint> points,
                  int64_t layer) const {
    for (const Span& s : layout) {
      Hooks* h = hooks_of(s);
      if (!h) continue;
      for (HookPoint p : points) {
        if (h->active({p, layer})) return true;
      }
    }
    return false;
  }

  // The last block may compute only the last position of a group with no hooks in it.
  bool cut_to_last_position(const Span& s, int64_t l) const {
    if (!run_.last_position_only || l + 1 != c_.n_layers || run_.stop_layer != c_.n_layers ||
        s.count == 1)
      return false;
    Hooks* h = hooks_of(s);
    if (!h) return true;
    for (int p = 0; p < kHookPointCount; ++p) {
      const auto point = static_cast<HookPoint>(p);
      if (is_block_point(point) && h->active({point, l})) return false;
    }
    return true;
  }

  // Rows of layout A that layout B keeps (B's spans are A's, some cut to their last positions).
  static at::Tensor gather(const at::Tensor& packed, const Layout& A, const Layout& B) {
    std::vector<at::Tensor> pieces;
    for (size_t i = 0; i < A.size(); ++i) {
      at::Tensor v = view_of(packed, A[i]);
      if (B[i].count != A[i].count) v = v.narrow(1, A[i].count - B[i].count, B[i].count);
      pieces.push_back(flat(v));
    }
    return pack(pieces);
  }

  at::Tensor norm_of(const Layout& layout, const at::Tensor& x, const at::Tensor& w,
                     const at::Tensor& b, HookPoint scale_point, HookPoint normalized_point,
                     int64_t l) const {
    if (!any_active(layout, {scale_point, normalized_point}, l))
      return norm(x, w, b, c_, nullptr, scale_point, normalized_point, l);
    std::vector<at::Tensor> pieces;  // per group: its hooks see the scale and normalized values
    for (const Span& s : layout)
      pieces.push_back(
          flat(norm(view_of(x, s), w, b, c_, hooks_of(s), scale_point, normalized_point, l)));
    return pack(pieces);
  }

  // Gemma 3's sliding-window layers have their own mask and rotary tables.
  bool local_layer(int64_t l) const {
    return !c_.local_layers.empty() && c_.local_layers[static_cast<size_t>(l)];
  }
  const at::Tensor& mask_of(int64_t l) const {
    return local_layer(l) ? run_.local_mask : run_.mask;
  }

  // Rotary on packed [tokens, heads, d_head]: each token row at its own position, gathered from
  // the tables in one index_select (per-group calls would cost ~10 small ops a group a block).
  at::Tensor rotary_of(int64_t l, const Layout& layout, const at::Tensor& x) const {
    const at::Tensor& cos = local_layer(l) ? run_.local_cos : run_.cos;
    const at::Tensor& sin = local_layer(l) ? run_.local_sin : run_.sin;
    if (layout.size() == 1) {
      const Span& s = layout[0];
      return flat(apply_rotary(view_of(x, s), cos.narrow(0, s.first, s.count),
                               sin.narrow(0, s.first, s.count)));
    }
    std::vector<int64_t> positions;
    positions.reserve(static_cast<size_t>(x.size(0)));
    for (const Span& s : layout) {
      for (int64_t r = 0; r < s.rows; ++r) {
        for (int64_t p = 0; p < s.count; ++p) positions.push_back(s.first + p);
      }
    }
    at::Tensor index = at::tensor(positions, at::TensorOptions().dtype(at::kLong)).to(x.device());
    return apply_rotary(x.unsqueeze(0), cos.index_select(0, index), sin.index_select(0, index))[0];
  }

  // What the attention half of a block hands to the rest of it.
  struct Attended {
    Layout
        B;  // the positions whose outputs are wanted: A, or the last one in the model's last block
    at::Tensor z;      // [B's tokens, h, d_head]
    at::Tensor resid;  // B's rows of the block's input residual
  };

  // ln1, q/k/v and attention of the whole-block groups A (packed residual x).
  Attended attention_half(int64_t l, const Layout& A, at::Tensor& x) const {
    Attended out;
    Layout& B = out.B;
    const LayerWeights& w = run_.weights.layers[static_cast<size_t>(l)];
    const int64_t h = c_.n_heads, hkv = c_.n_kv_heads, dh = c_.d_head;
    visit(HookPoint::ResidPre, l, A, x);
    at::Tensor ln1 =
        norm_of(A, x, w.ln1_w, w.ln1_b, HookPoint::Ln1Scale, HookPoint::Ln1Normalized, l);
    B = A;
    bool cut = false;
    for (Span& s : B) {
      if (!cut_to_last_position(s, l)) continue;
      s.first += s.count - 1;
      s.count = 1;
      cut = true;
    }
    assign_offsets(B);
    const int64_t RA = ln1.size(0);
    at::Tensor q_in = cut ? gather(ln1, A, B) : ln1;
    out.resid = cut ? gather(x, A, B) : x;
    at::Tensor q = at::linear(q_in, w.W_Q, w.b_Q).view({q_in.size(0), h, dh});
    at::Tensor k = at::linear(ln1, w.W_K, w.b_K).view({RA, hkv, dh});
    at::Tensor v = at::linear(ln1, w.W_V, w.b_V).view({RA, hkv, dh});
    // Qwen3 normalizes each head before rotary; hook_q/hook_k show the normalized heads.
    if (w.q_norm_w.defined()) q = rms_norm(q, w.q_norm_w, c_.norm_eps);
    if (w.k_norm_w.defined()) k = rms_norm(k, w.k_norm_w, c_.norm_eps);
    visit(HookPoint::AttnQ, l, B, q);
    visit(HookPoint::AttnK, l, A, k);
    visit(HookPoint::AttnV, l, A, v);
    if (c_.rotary_dim > 0) {
      q = rotary_of(l, B, q);
      k = rotary_of(l, A, k);
      visit(HookPoint::AttnRotQ, l, B, q);
      visit(HookPoint::AttnRotK, l, A, k);
    }
    double scale = c_.attn_scale;
    if (c_.scale_attn_by_inverse_layer_idx) scale /= double(l + 1);
    std::vector<at::Tensor> zs;
    for (size_t i = 0; i < A.size();) {  // one attention call per run of equal (first, cut)
      size_t j = i;
      int64_t n = 0;
      while (j < A.size() && A[j].first == A[i].first && B[j].first == B[i].first) n += A[j++].rows;
      const int64_t first = A[i].first, cA = A[i].count, cB = B[i].count;
      at::Tensor qu =
          q.narrow(0, B[i].offset, n * cB).view({n, cB, h, dh}).transpose(1, 2);  // [n, h, cB, dh]
      at::Tensor ku = k.narrow(0, A[i].offset, n * cA)
                          .view({n, cA, hkv, dh})
                          .transpose(1, 2);  // [n, hkv, cA, dh]
      at::Tensor vu = v.narrow(0, A[i].offset, n * cA).view({n, cA, hkv, dh}).transpose(1, 2);
      if (run_.fused_attention && !unit_hooked(l, B, i, j)) {
        zs.push_back(fused_attention(qu, ku, vu, l, first, B[i].first, scale)
                         .transpose(1, 2)
                         .reshape({n * cB, h, dh}));
        i = j;
        continue;
      }
      if (hkv != h) {  // grouped-query attention: query head i reads kv head i / (h / hkv)
        ku = ku.repeat_interleave(h / hkv, 1);
        vu = vu.repeat_interleave(h / hkv, 1);
      }
      at::Tensor scores = at::matmul(qu, ku.transpose(2, 3));  // [n, h, cB, cA]
      // The earlier positions' keys/values are the cached run's, the same for every row: each
      // KV head scores them once against all rows' queries (never one copy per row).
      at::Tensor prefix_k, prefix_v;
      if (first > 0) {
        prefix_k = cached({keys_point(c_), l})
                       .narrow(1, 0, first)[0]
                       .permute({1, 2, 0});  // [hkv, dh, first]
        prefix_v = cached({HookPoint::AttnV, l})
                       .narrow(1, 0, first)[0]
                       .transpose(0, 1);  // [hkv, first, dh]
        scores = at::cat({unfold_heads(at::matmul(fold_heads(qu), prefix_k), n), scores},
                         -1);  // [n, h, cB, P]
      }
      scores.mul_(scale).add_(mask_of(l).narrow(0, B[i].first, cB));
      visit_unit(HookPoint::AttnScores, l, B, i, j, scores);
      at::Tensor pattern = at::softmax(scores, -1);
      visit_unit(HookPoint::AttnPattern, l, B, i, j, pattern);
      at::Tensor zu = at::matmul(pattern.narrow(-1, first, cA), vu);  // [n, h, cB, dh]
      if (first > 0)
        zu = zu + unfold_heads(at::matmul(fold_heads(pattern.narrow(-1, 0, first)), prefix_v), n);
      zs.push_back(zu.transpose(1, 2).reshape({n * cB, h, dh}));
      i = j;
    }
    out.z = pack(zs);
    return out;
  }

  // Whether a group of one attention call [i, j) hooks its scores or pattern (the fused kernel
  // never forms them).
  bool unit_hooked(int64_t l, const Layout& B, size_t i, size_t j) const {
    for (size_t g = i; g < j; ++g) {
      Hooks* hk = hooks_of(B[g]);
      if (hk && (hk->active({HookPoint::AttnScores, l}) || hk->active({HookPoint::AttnPattern, l})))
        return true;
    }
    return false;
  }

  // softmax(q·kᵀ·scale + mask)·v in one at::scaled_dot_product_attention call; q [n, h, cB, dh]
  // at positions [q_first, q_first + cB), k/v [n, hkv, cA, dh] at positions [first, P). The
  // cached prefix's keys/values join every row here (the kernel takes one key matrix per row).
  at::Tensor fused_attention(const at::Tensor& q, at::Tensor k, at::Tensor v, int64_t l,
                             int64_t first, int64_t q_first, double scale) const {
    const int64_t n = q.size(0);
    if (first > 0) {
      at::Tensor pk =
          cached({keys_point(c_), l}).narrow(1, 0, first).transpose(1, 2);  // [1, hkv, first, dh]
      at::Tensor pv = cached({HookPoint::AttnV, l}).narrow(1, 0, first).transpose(1, 2);
      k = at::cat({pk.expand({n, -1, -1, -1}), k}, 2);
      v = at::cat({pv.expand({n, -1, -1, -1}), v}, 2);
    }
    at::Tensor mask = mask_of(l).narrow(0, q_first, q.size(2));  // [cB, P]
    return at::scaled_dot_product_attention(q, k, v, mask, 0.0, false, scale,
                                            /*enable_gqa=*/c_.n_kv_heads != c_.n_heads);
  }

  // [n, h, c, e] -> [hkv, n * (h / hkv) * c, e]: every row's queries of one KV head as one matrix.
  at::Tensor fold_heads(const at::Tensor& x) const {
    const int64_t n = x.size(0), hkv = c_.n_kv_heads, g = c_.n_heads / hkv, c = x.size(2),
                  e = x.size(3);
    return x.reshape({n, hkv, g, c, e}).permute({1, 0, 2, 3, 4}).reshape({hkv, n * g * c, e});
  }
  // The inverse of fold_heads: [hkv, n * (h / hkv) * c, f] -> [n, h, c, f].
  at::Tensor unfold_heads(const at::Tensor& y, int64_t n) const {
    const int64_t hkv = c_.n_kv_heads, g = c_.n_heads / hkv, c = y.size(1) / (n * g), f = y.size(2);
    return y.view({hkv, n, g, c, f}).permute({1, 0, 2, 3, 4}).reshape({n, c_.n_heads, c, f});
  }

  // Hooks of the groups [i, j) of one attention call on their rows of `act` [n, h, q, k].
  void visit_unit(HookPoint point, int64_t l, const Layout& B, size_t i, size_t j,
                  at::Tensor& act) const {
    auto hooked = [&] {
      for (size_t g = i; g < j; ++g) {
        Hooks* hk = hooks_of(B[g]);
        if (hk && hk->active({point, l})) return true;
      }
      return false;
    };
    on_full(point, hooked, act, [&](at::Tensor& a) { visit_unit_rows(point, l, B, i, j, a); });
  }
  void visit_unit_rows(HookPoint point, int64_t l, const Layout& B, size_t i, size_t j,
                       at::Tensor& act) const {
    const HookSite site{point, l};
    int64_t row = 0;
    for (size_t g = i; g < j; row += B[g++].rows) {
      Hooks* hk = hooks_of(B[g]);
      if (!hk || !hk->active(site)) continue;
      at::Tensor view = act.narrow(0, row, B[g].rows);
      at::Tensor edited = view;
      hk->run(site, edited);
      if (j - i == 1)
        act = edited;
      else if (!edited.is_same(view))
        copy_back(site, view, edited);
    }
  }

  // z -> W_O -> residual -> ln2 -> MLP -> resid_post on layout C; x: C's resid_pre rows.
  at::Tensor post_attention_half(int64_t l, const Layout& C, at::Tensor z,
                                 const at::Tensor& x) const {
    const LayerWeights& w = run_.weights.layers[static_cast<size_t>(l)];
    visit(HookPoint::AttnZ, l, C, z);
    const at::Tensor z_flat = z.reshape({z.size(0), c_.n_heads * c_.d_head});
    at::Tensor resid_post;
    if (c_.parallel_residual && tp_.active() &&
        !any_active(C, {HookPoint::AttnOut, HookPoint::MlpOut}, l)) {
      // NeoX under tensor parallelism with neither output hooked: both halves' partial sums
      // travel in ONE all-reduce, then both biases are added once.
      at::Tensor ln2 =
          norm_of(C, x, w.ln2_w, w.ln2_b, HookPoint::Ln2Scale, HookPoint::Ln2Normalized, l);
      at::Tensor sum =
          tp_.all_reduce(at::linear(z_flat, w.W_O) + at::linear(mlp_hidden(l, C, ln2), w.W_out));
      if (w.b_O.defined()) sum = sum + w.b_O;
      if (w.b_out.defined()) sum = sum + w.b_out;
      resid_post = x + sum;
    } else {
      at::Tensor attn_out = tp_.row_parallel(z_flat, w.W_O, w.b_O);
      // Gemma 3: hook_attn_out is after ln1_post, as in TransformerLens (what joins the residual).
      if (w.ln1_post_w.defined())
        attn_out = norm_of(C, attn_out, w.ln1_post_w, {}, HookPoint::Ln1PostScale,
                           HookPoint::Ln1PostNormalized, l);
      visit(HookPoint::AttnOut, l, C, attn_out);
      if (c_.parallel_residual) {  // NeoX: x + attn(ln1(x)) + mlp(ln2(x))
        at::Tensor ln2 =
            norm_of(C, x, w.ln2_w, w.ln2_b, HookPoint::Ln2Scale, HookPoint::Ln2Normalized, l);
        resid_post = x + attn_out + mlp(l, C, ln2);
      } else {
        at::Tensor resid_mid = x + attn_out;
        visit(HookPoint::ResidMid, l, C, resid_mid);
        at::Tensor ln2 = norm_of(C, resid_mid, w.ln2_w, w.ln2_b, HookPoint::Ln2Scale,
                                 HookPoint::Ln2Normalized, l);
        resid_post = resid_mid + mlp(l, C, ln2);
      }
    }
    visit(HookPoint::ResidPost, l, C, resid_post);
    return resid_post;
  }

  // The MLP up to hook_post (this rank's neurons), then W_out with its all-reduce.
  at::Tensor mlp(int64_t l, const Layout& C, const at::Tensor& x) const {
    const LayerWeights& w = run_.weights.layers[static_cast<size_t>(l)];
    at::Tensor out = tp_.row_parallel(mlp_hidden(l, C, x), w.W_out, w.b_out);
    if (w.ln2_post_w.defined())  // Gemma 3
      out = norm_of(C, out, w.ln2_post_w, {}, HookPoint::Ln2PostScale, HookPoint::Ln2PostNormalized,
                    l);
    visit(HookPoint::MlpOut, l, C, out);
    return out;
  }

  at::Tensor mlp_hidden(int64_t l, const Layout& C, const at::Tensor& x) const {
    const LayerWeights& w = run_.weights.layers[static_cast<size_t>(l)];
    at::Tensor post;
    if (c_.gated_mlp) {  // SwiGLU: down(act(gate(x)) * up(x))
      at::Tensor pre = at::linear(x, w.W_gate);
      visit(HookPoint::MlpPre, l, C, pre);
      at::Tensor pre_linear = at::linear(x, w.W_in, w.b_in);
      visit(HookPoint::MlpPreLinear, l, C, pre_linear);
      post = activate(pre, c_.activation) * pre_linear;
    } else {
      at::Tensor pre = at::linear(x, w.W_in, w.b_in);
      visit(HookPoint::MlpPre, l, C, pre);
      post = activate(pre, c_.activation);
    }
    visit(HookPoint::MlpPost, l, C, post);
    return post;
  }

  static at::Tensor activate(const at::Tensor& x, Activation a) {
    switch (a) {
      case Activation::GeluTanh:
        return at::gelu(x, "tanh");
      case Activation::GeluErf:
        return at::gelu(x);
      case Activation::Silu:
        return at::silu(x);
      case Activation::Relu:
        return at::relu(x);
    }
    return x;
  }
};

}  // namespace

std::vector<at::Tensor> run_blocks(const BlockRun& run, const std::vector<BlockGroup>& groups) {
  return Blocks(run, groups).run();
}

}  // namespace csweep::model
