// The forward pass, top to bottom: embeddings, blocks (blocks.cpp), ln_final, unembed; and
// resume, the same blocks for many rows that start from a cached run.
#include "common/error.h"
#include "model/blocks.h"
#include "model/layers.h"
#include "model/model.h"

namespace csweep::model {
namespace {

at::Tensor embed(const Weights& w, const ModelConfig& c, const at::Tensor& tokens, Hooks* hooks) {
  at::Tensor x = at::embedding(w.W_E, tokens);  // [b, p, d]
  // Gemma: times sqrt(d_model) rounded to float32 and then to the weights' dtype, as HF does.
  if (c.embed_scale != 1.0)
    x = x * at::scalar_tensor(c.embed_scale, at::kFloat).to(x.device(), x.scalar_type());
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

// Gemma 3's sliding-window layers read their own mask and rotary tables.
template <typename Tables>
void set_local_tables(BlockRun& run, const Tables& tables) {
  run.local_mask = tables.local_mask;
  run.local_cos = tables.local_cos;
  run.local_sin = tables.local_sin;
}

// Model::resume visits a group's hooks only where it recomputes: blocks >= start_layer, and
// in the start block of an after-attention entry only from hook_z on. A hook anywhere else
// would be silently ignored, so it is an error; so is one Hooks object for two groups (each
// group's hooks see that group's rows).
void check_resume_hooks(const std::vector<HookSite>& sites, const ResumeGroup& g,
                        const std::vector<ResumeGroup>& all) {
  if (!g.hooks) return;
  int shared = 0;
  for (const ResumeGroup& o : all) shared += o.hooks == g.hooks;
  if (shared > 1)
    throw Error("resume: two groups share one Hooks object; each group needs its own");
  for (const HookSite& site : sites) {
    if (!g.hooks->active(site)) continue;
    const bool before_start = site.layer < g.start_layer;  // also the global sites (layer -1)
    const bool before_z = site.layer == g.start_layer && g.attn_end > g.first_pos &&
                          !is_after_attention_point(site.point);
    if (before_start || before_z)
      throw Error("resume: " + site.name() + ": a group resuming at block " +
                  std::to_string(g.start_layer) +
                  (g.attn_end > g.first_pos ? " after attention" : "") + " never runs this site");
  }
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
      throw Error("forward: " + std::to_string(tokens.size(1)) + " tokens exceed n_ctx " +
                  std::to_string(c.n_ctx));
    resid = embed(weights_, c, tokens.to(device_, at::kLong), hooks);
  }

  // ln_final on the last position only, unless a hook wants to see every position.
  const bool final_hooked = hooks && (hooks->active({HookPoint::LnFinalScale, -1}) ||
                                      hooks->active({HookPoint::LnFinalNormalized, -1}));
  const bool last_only = o.logits == ForwardOptions::Logits::Last && !final_hooked;
  if (o.start_layer < stop) {
    const int64_t b = resid.size(0), p = resid.size(1);
    const SeqTables& tables = seq_tables(p);
    BlockGroup group;
    group.rows = b;
    group.start_layer = o.start_layer;
    group.start = resid.reshape({b * p, c.d_model});
    group.hooks = hooks;
    BlockRun run{local_, weights_, *tp_, p, tables.mask, tables.cos, tables.sin};
    set_local_tables(run, tables);
    run.stop_layer = stop;
    run.last_position_only = last_only && stop == c.n_layers;
    run.fused_attention = attention_ == Attention::Fused;
    resid = run_blocks(run,
                       {group})[0];  // [b, p, d], or [b, 1, d] when the last block could stop there
  }
  if (stop < c.n_layers || o.logits == ForwardOptions::Logits::None) return resid;
  if (last_only) resid = resid.narrow(1, resid.size(1) - 1, 1);
  at::Tensor x = norm(resid, weights_.ln_final_w, weights_.ln_final_b, c, hooks,
                      HookPoint::LnFinalScale, HookPoint::LnFinalNormalized, -1);
  if (o.logits == ForwardOptions::Logits::Last && final_hooked) x = x.narrow(1, x.size(1) - 1, 1);
  return softcap_logits(at::linear(x, weights_.W_U, weights_.b_U), c);
}

std::set<HookSite> resume_sites(const ModelConfig& c) {
  std::set<HookSite> sites;
  for (int64_t l = 0; l < c.n_layers; ++l) {
    for (HookPoint p :
         {HookPoint::ResidPre, c.rotary_dim > 0 ? HookPoint::AttnRotK : HookPoint::AttnK,
          HookPoint::AttnV, HookPoint::AttnZ})
      sites.insert({p, l});
  }
  sites.insert({HookPoint::ResidPost, c.n_layers - 1});
  return sites;
}

at::Tensor Model::resume(const std::map<HookSite, at::Tensor>& cached,
                         const std::vector<ResumeGroup>& groups) const {
  const ModelConfig& c = config_;
  auto it = cached.find({HookPoint::ResidPre, 0});
  if (it == cached.end()) throw Error("resume: blocks.0.hook_resid_pre: not in the cached run");
  const int64_t p = it->second.size(1);
  std::vector<BlockGroup> blocks;
  const std::vector<HookSite> sites = all_sites(c);
  for (const ResumeGroup& g : groups) {
    if (g.rows < 1 || g.start_layer < 0 || g.start_layer >= c.n_layers || g.first_pos < 0 ||
        g.first_pos >= p || g.attn_end > p)
      throw Error("resume: group of " + std::to_string(g.rows) + " rows from block " +
                  std::to_string(g.start_layer) + ", positions [" + std::to_string(g.first_pos) +
                  ", " + std::to_string(p) + "), attn_end " + std::to_string(g.attn_end) +
                  ": out of range for " + std::to_string(c.n_layers) + " blocks and " +
                  std::to_string(p) + " positions");
    check_resume_hooks(sites, g, groups);
    BlockGroup b;
    b.rows = g.rows;
    b.first = g.first_pos;
    b.start_layer = g.start_layer;
    b.attn_end = g.attn_end;
    b.hooks = g.hooks;
    blocks.push_back(b);
  }
  if (blocks.empty())
    return at::empty({0, 1, c.d_model}, at::TensorOptions().dtype(dtype_).device(device_));
  const SeqTables& tables = seq_tables(p);
  BlockRun run{local_, weights_, *tp_, p, tables.mask, tables.cos, tables.sin, &cached};
  set_local_tables(run, tables);
  run.stop_layer = c.n_layers;
  run.last_position_only = true;
  run.fused_attention = attention_ == Attention::Fused;
  std::vector<at::Tensor> last;
  for (const at::Tensor& r : run_blocks(run, blocks)) last.push_back(r.narrow(1, r.size(1) - 1, 1));
  return at::cat(last, 0);
}

}  // namespace csweep::model
