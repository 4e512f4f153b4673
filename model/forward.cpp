// The forward pass, top to bottom: embeddings, blocks, ln_final, unembed.
#include "common/error.h"
#include "model/layers.h"
#include "model/model.h"

namespace csweep::model {
namespace {

at::Tensor embed(const Weights& w, const ModelConfig& c, const at::Tensor& tokens, Hooks* hooks) {
  at::Tensor x = at::embedding(w.W_E, tokens);  // [b, p, d]
  visit(hooks, HookPoint::Embed, -1, x);
  if (!c.learned_pos_embed) return x;
  const int64_t b = tokens.size(0), p = tokens.size(1);
  // A view of W_pos, broadcast over the batch; hooks get their own copy.
  at::Tensor pos = w.W_pos.narrow(0, 0, p).unsqueeze(0).expand({b, p, c.d_model});
  if (hooks && hooks->active({HookPoint::PosEmbed, -1})) {
    pos = pos.contiguous();
    visit(hooks, HookPoint::PosEmbed, -1, pos);
  }
  return x + pos;
}

at::Tensor block(at::Tensor resid, const LayerWeights& w, const ModelConfig& c, int64_t layer,
                 const at::Tensor& mask, const at::Tensor& cos, const at::Tensor& sin, Hooks* hooks) {
  visit(hooks, HookPoint::ResidPre, layer, resid);
  at::Tensor ln1 = norm(resid, w.ln1_w, w.ln1_b, c, hooks, HookPoint::Ln1Scale, HookPoint::Ln1Normalized, layer);
  at::Tensor attn_out = attention(ln1, w, c, layer, mask, cos, sin, hooks);
  at::Tensor resid_post;
  if (c.parallel_residual) {  // NeoX: x + attn(ln1(x)) + mlp(ln2(x))
    at::Tensor ln2 = norm(resid, w.ln2_w, w.ln2_b, c, hooks, HookPoint::Ln2Scale, HookPoint::Ln2Normalized, layer);
    at::Tensor mlp_out = mlp(ln2, w, c, layer, hooks);
    resid_post = resid + attn_out + mlp_out;
  } else {
    at::Tensor resid_mid = resid + attn_out;
    visit(hooks, HookPoint::ResidMid, layer, resid_mid);
    at::Tensor ln2 = norm(resid_mid, w.ln2_w, w.ln2_b, c, hooks, HookPoint::Ln2Scale, HookPoint::Ln2Normalized, layer);
    resid_post = resid_mid + mlp(ln2, w, c, layer, hooks);
  }
  visit(hooks, HookPoint::ResidPost, layer, resid_post);
  return resid_post;
}

}  // namespace

at::Tensor Model::forward(const at::Tensor& tokens, Hooks* hooks, const ForwardOptions& o) const {
  const ModelConfig& c = config_;
  const int64_t stop = o.stop_layer >= 0 ? o.stop_layer : c.n_layers;
  if (o.start_layer < 0 || o.start_layer > c.n_layers || stop > c.n_layers || stop < o.start_layer)
    throw Error("forward: layers [" + std::to_string(o.start_layer) + ", " + std::to_string(stop) +
                ") out of range for a model with " + std::to_string(c.n_layers) + " layers");

  at::Tensor resid;
  if (o.start_layer > 0 || o.start_resid.defined()) {  // resume from a residual stream
    if (!o.start_resid.defined() || o.start_resid.dim() != 3 || o.start_resid.size(2) != c.d_model)
      throw Error("forward: start_layer " + std::to_string(o.start_layer) +
                  " needs start_resid [batch, pos, " + std::to_string(c.d_model) + "]");
    resid = o.start_resid.to(device_, dtype_);
  } else {
    if (!tokens.defined() || tokens.dim() != 2)
      throw Error("forward: tokens must be [batch, pos] int64");
    if (tokens.size(1) > c.n_ctx && c.learned_pos_embed)
      throw Error("forward: " + std::to_string(tokens.size(1)) + " tokens exceed n_ctx " + std::to_string(c.n_ctx));
    resid = embed(weights_, c, tokens.to(device_, at::kLong), hooks);
  }

  const SeqTables& tables = seq_tables(resid.size(1));
  for (int64_t l = o.start_layer; l < stop; ++l)
    resid = block(resid, weights_.layers[static_cast<size_t>(l)], c, l, tables.mask, tables.cos, tables.sin, hooks);
  if (stop < c.n_layers || o.logits == ForwardOptions::Logits::None) return resid;

  // ln_final on the last position only, unless a hook wants to see every position.
  const bool final_hooked = hooks && (hooks->active({HookPoint::LnFinalScale, -1}) ||
                                      hooks->active({HookPoint::LnFinalNormalized, -1}));
  if (o.logits == ForwardOptions::Logits::Last && !final_hooked) resid = resid.narrow(1, resid.size(1) - 1, 1);
  at::Tensor x = norm(resid, weights_.ln_final_w, weights_.ln_final_b, c, hooks, HookPoint::LnFinalScale,
                      HookPoint::LnFinalNormalized, -1);
  if (o.logits == ForwardOptions::Logits::Last && final_hooked) x = x.narrow(1, x.size(1) - 1, 1);
  return at::linear(x, weights_.W_U, weights_.b_U);
}

}  // namespace csweep::model
