#pragma once
// Hook sites under their TransformerLens names — the vocabulary users, job files, the store
// and the analyses share. This header is the only place that formats or parses a hook name.
// Torch-free: jobs/ validates site names in job files with it.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "model/config.h"

namespace csweep::model {

// Shapes are TransformerLens's ([batch, pos, ...]); h = n_heads, hkv = n_kv_heads.
enum class HookPoint : uint8_t {
  Embed,          // hook_embed                     [b, p, d_model]
  PosEmbed,       // hook_pos_embed                 [b, p, d_model] (learned positions only)
  ResidPre,       // blocks.L.hook_resid_pre        [b, p, d_model]
  Ln1Scale,       // blocks.L.ln1.hook_scale        [b, p, 1]
  Ln1Normalized,  // blocks.L.ln1.hook_normalized   [b, p, d_model]
  AttnQ,          // blocks.L.attn.hook_q           [b, p, h, d_head]
  AttnK,          // blocks.L.attn.hook_k           [b, p, hkv, d_head]
  AttnV,          // blocks.L.attn.hook_v           [b, p, hkv, d_head]
  AttnRotQ,       // blocks.L.attn.hook_rot_q       [b, p, h, d_head] (rotary models)
  AttnRotK,       // blocks.L.attn.hook_rot_k       [b, p, hkv, d_head] (rotary models)
  AttnScores,     // blocks.L.attn.hook_attn_scores [b, h, q_pos, k_pos] (-inf above the diagonal)
  AttnPattern,    // blocks.L.attn.hook_pattern     [b, h, q_pos, k_pos]
  AttnZ,          // blocks.L.attn.hook_z           [b, p, h, d_head]
  Ln1PostScale,   // blocks.L.ln1_post.hook_scale   [b, p, 1] (Gemma 3: the attention output's norm)
  Ln1PostNormalized,  // blocks.L.ln1_post.hook_normalized [b, p, d_model] (Gemma 3)
  AttnOut,            // blocks.L.hook_attn_out         [b, p, d_model]
  ResidMid,           // blocks.L.hook_resid_mid        [b, p, d_model] (not with parallel residual)
  Ln2Scale,           // blocks.L.ln2.hook_scale        [b, p, 1]
  Ln2Normalized,      // blocks.L.ln2.hook_normalized   [b, p, d_model]
  MlpPre,             // blocks.L.mlp.hook_pre          [b, p, d_mlp] (gate projection when gated)
  MlpPreLinear,  // blocks.L.mlp.hook_pre_linear   [b, p, d_mlp] (gated MLPs: the up projection)
  MlpPost,       // blocks.L.mlp.hook_post         [b, p, d_mlp]
  Ln2PostScale,  // blocks.L.ln2_post.hook_scale   [b, p, 1] (Gemma 3: the MLP output's norm)
  Ln2PostNormalized,  // blocks.L.ln2_post.hook_normalized [b, p, d_model] (Gemma 3)
  MlpOut,             // blocks.L.hook_mlp_out          [b, p, d_model]
  ResidPost,          // blocks.L.hook_resid_post       [b, p, d_model]
  LnFinalScale,       // ln_final.hook_scale            [b, p, 1]
  LnFinalNormalized,  // ln_final.hook_normalized   [b, p, d_model]
  Count
};

constexpr int kHookPointCount = static_cast<int>(HookPoint::Count);

struct HookSite {
  HookPoint point = HookPoint::ResidPre;
  int64_t layer = -1;  // -1 for the sites outside blocks (embeddings, ln_final)

  std::string name() const;  // "blocks.3.attn.hook_z"
  bool operator==(const HookSite& o) const { return point == o.point && layer == o.layer; }
  bool operator<(const HookSite& o) const {
    return layer != o.layer ? layer < o.layer : point < o.point;
  }
};

bool is_block_point(HookPoint p);    // lives inside blocks.L
bool is_head_point(HookPoint p);     // has a head axis (q, k, v, rot_q, rot_k, z, scores, pattern)
bool is_kv_head_point(HookPoint p);  // head axis has n_kv_heads entries (k, v, rot_k)
bool is_pattern_point(HookPoint p);  // [b, h, q_pos, k_pos] layout (scores, pattern)
// How a site's activation is split across a tensor-parallel group: every rank holds all of it
// (the residual stream, attn_out and mlp_out after their all-reduce, the norms), or the rank's
// query heads (q, rot_q, z, scores, pattern), KV heads (k, rot_k, v) or MLP neurons
// (mlp.hook_pre, hook_pre_linear, hook_post).
enum class TpSplit : uint8_t { Replicated, Heads, KvHeads, Neurons };
TpSplit tp_split(HookPoint p);
// A block site computed after attention mixes positions (hook_z .. hook_resid_post): an edit
// there changes only its own positions within the block.
bool is_after_attention_point(HookPoint p);
// The block-relative suffix, e.g. "attn.hook_z" or "hook_resid_pre"; the full name for globals.
const char* point_suffix(HookPoint p);

// "blocks.3.attn.hook_z" -> site. nullopt for an unknown name.
std::optional<HookSite> parse_hook_site(const std::string& name);
// A site exists for this model (layer in range, point present in the architecture).
bool site_exists(const HookSite& site, const ModelConfig& config, std::string* why = nullptr);
// Every site of a model in forward order — the order the runtime visits them.
std::vector<HookSite> all_sites(const ModelConfig& config);

}  // namespace csweep::model
