#include "analyses/suffix_forward.h"

#include <algorithm>

#include "common/error.h"
#include "model/layers.h"

namespace csweep::analyses {

using model::HookPoint;

namespace {

HookPoint scored_k(const model::ModelConfig& c) { return c.rotary_dim > 0 ? HookPoint::AttnRotK : HookPoint::AttnK; }

at::Tensor attention_suffix(const at::Tensor& x, const model::LayerWeights& w, const model::ModelConfig& c,
                            int64_t layer, const at::Tensor& mask, const at::Tensor& cos, const at::Tensor& sin,
                            const at::Tensor& prefix_k, const at::Tensor& prefix_v, model::Hooks* hooks) {
  const int64_t b = x.size(0), m = x.size(1), h = c.n_heads, hkv = c.n_kv_heads, dh = c.d_head;
  at::Tensor q = at::linear(x, w.W_Q, w.b_Q).view({b, m, h, dh});
  at::Tensor k = at::linear(x, w.W_K, w.b_K).view({b, m, hkv, dh});
  at::Tensor v = at::linear(x, w.W_V, w.b_V).view({b, m, hkv, dh});
  if (w.q_norm_w.defined()) q = model::rms_norm(q, w.q_norm_w, c.norm_eps);
  if (w.k_norm_w.defined()) k = model::rms_norm(k, w.k_norm_w, c.norm_eps);
  model::visit(hooks, HookPoint::AttnQ, layer, q);
  model::visit(hooks, HookPoint::AttnK, layer, k);
  model::visit(hooks, HookPoint::AttnV, layer, v);
  if (c.rotary_dim > 0) {
    q = model::apply_rotary(q, cos, sin);
    k = model::apply_rotary(k, cos, sin);
    model::visit(hooks, HookPoint::AttnRotQ, layer, q);
    model::visit(hooks, HookPoint::AttnRotK, layer, k);
  }
  const int64_t s = prefix_k.size(1);
  at::Tensor k_all = at::cat({prefix_k.expand({b, s, hkv, dh}), k}, 1);
  at::Tensor v_all = at::cat({prefix_v.expand({b, s, hkv, dh}), v}, 1);
  at::Tensor qt = q.transpose(1, 2);  // [b, h, m, dh]
  at::Tensor kt = k_all.transpose(1, 2);
  at::Tensor vt = v_all.transpose(1, 2);
  if (hkv != h) {
    kt = kt.repeat_interleave(h / hkv, 1);
    vt = vt.repeat_interleave(h / hkv, 1);
  }
  double scale = c.attn_scale;
  if (c.scale_attn_by_inverse_layer_idx) scale /= double(layer + 1);
  at::Tensor scores = at::matmul(qt, kt.transpose(2, 3));  // [b, h, m, P]
  scores.mul_(scale).add_(mask);
  model::visit(hooks, HookPoint::AttnScores, layer, scores);
  at::Tensor pattern = at::softmax(scores, -1);
  model::visit(hooks, HookPoint::AttnPattern, layer, pattern);
  at::Tensor z = at::matmul(pattern, vt).transpose(1, 2);  // [b, m, h, dh]
  model::visit(hooks, HookPoint::AttnZ, layer, z);
  at::Tensor out = at::linear(z.reshape({b, m, h * dh}), w.W_O, w.b_O);
  model::visit(hooks, HookPoint::AttnOut, layer, out);
  return out;
}

}  // namespace

std::set<model::HookSite> prefix_kv_sites(const model::ModelConfig& c) {
  std::set<model::HookSite> sites;
  for (int64_t l = 0; l < c.n_layers; ++l) {
    sites.insert({scored_k(c), l});
    sites.insert({HookPoint::AttnV, l});
  }
  return sites;
}

at::Tensor suffix_forward(const model::Model& model, const RunCache& target, int64_t start_layer, int64_t s,
                          int64_t batch, model::Hooks* hooks) {
  const auto& c = model.config();
  const auto& weights = model.weights();
  const at::Tensor& start = target.at_site({HookPoint::ResidPre, start_layer});  // [1, P, d]
  const int64_t seq = start.size(1);
  if (s <= 0 || s >= seq) throw Error("suffix forward: suffix start " + std::to_string(s) + " outside (0, " + std::to_string(seq) + ")");
  const auto dtype = model.dtype();
  const auto device = model.device();
  at::Tensor mask = model::causal_mask(c, seq, dtype, device).narrow(0, s, seq - s);  // [P - s, P]
  at::Tensor cos, sin;
  if (c.rotary_dim > 0) {
    model::rotary_tables(c, seq, dtype, device, &cos, &sin);
    cos = cos.narrow(0, s, seq - s);
    sin = sin.narrow(0, s, seq - s);
  }
  at::Tensor resid = start.narrow(1, s, seq - s).expand({batch, seq - s, c.d_model}).contiguous();
  for (int64_t l = start_layer; l < c.n_layers; ++l) {
    const auto& w = weights.layers[static_cast<size_t>(l)];
    at::Tensor prefix_k = target.at_site({scored_k(c), l}).narrow(1, 0, s);
    at::Tensor prefix_v = target.at_site({HookPoint::AttnV, l}).narrow(1, 0, s);
    model::visit(hooks, HookPoint::ResidPre, l, resid);
    at::Tensor ln1 = model::norm(resid, w.ln1_w, w.ln1_b, c, hooks, HookPoint::Ln1Scale, HookPoint::Ln1Normalized, l);
    at::Tensor attn_out = attention_suffix(ln1, w, c, l, mask, cos, sin, prefix_k, prefix_v, hooks);
    at::Tensor resid_post;
    if (c.parallel_residual) {
      at::Tensor ln2 = model::norm(resid, w.ln2_w, w.ln2_b, c, hooks, HookPoint::Ln2Scale, HookPoint::Ln2Normalized, l);
      resid_post = resid + attn_out + model::mlp(ln2, w, c, l, hooks);
    } else {
      at::Tensor resid_mid = resid + attn_out;
      model::visit(hooks, HookPoint::ResidMid, l, resid_mid);
      at::Tensor ln2 = model::norm(resid_mid, w.ln2_w, w.ln2_b, c, hooks, HookPoint::Ln2Scale, HookPoint::Ln2Normalized, l);
      resid_post = resid_mid + model::mlp(ln2, w, c, l, hooks);
    }
    model::visit(hooks, HookPoint::ResidPost, l, resid_post);
    resid = resid_post;
  }
  return resid.narrow(1, resid.size(1) - 1, 1);
}

int64_t first_edited_position(const RowEdits& row) {
  int64_t first = -1;
  for (const Edit& e : row) {
    if (!model::is_block_point(e.site.point) || e.slice.positions.empty()) return 0;
    for (int64_t p : e.slice.positions) {
      if (p < 0) return 0;
      first = first < 0 ? p : std::min(first, p);
    }
  }
  return first < 0 ? 0 : first;
}

RowEdits shift_edits(const RowEdits& row, int64_t s, int64_t seq) {
  RowEdits out;
  for (const Edit& e : row) {
    Edit shifted = e;
    const int64_t axis = model::is_pattern_point(e.site.point) ? 2 : 1;
    for (int64_t& p : shifted.slice.positions) {
      if (p < s) throw Error("suffix forward: edit at position " + std::to_string(p) + " before the suffix " + std::to_string(s));
      p -= s;
    }
    if (e.value.dim() > axis && e.value.size(axis) == seq) shifted.value = e.value.narrow(axis, s, seq - s);
    out.push_back(std::move(shifted));
  }
  return out;
}

}  // namespace csweep::analyses
