#include "model/hook_site.h"

#include <array>
#include <cstdlib>

namespace csweep::model {
namespace {

constexpr std::array<const char*, kHookPointCount> kSuffixes = {
    "hook_embed",
    "hook_pos_embed",
    "hook_resid_pre",
    "ln1.hook_scale",
    "ln1.hook_normalized",
    "attn.hook_q",
    "attn.hook_k",
    "attn.hook_v",
    "attn.hook_rot_q",
    "attn.hook_rot_k",
    "attn.hook_attn_scores",
    "attn.hook_pattern",
    "attn.hook_z",
    "ln1_post.hook_scale",
    "ln1_post.hook_normalized",
    "hook_attn_out",
    "hook_resid_mid",
    "ln2.hook_scale",
    "ln2.hook_normalized",
    "mlp.hook_pre",
    "mlp.hook_pre_linear",
    "mlp.hook_post",
    "ln2_post.hook_scale",
    "ln2_post.hook_normalized",
    "hook_mlp_out",
    "hook_resid_post",
    "ln_final.hook_scale",
    "ln_final.hook_normalized",
};

}  // namespace

const char* point_suffix(HookPoint p) { return kSuffixes[static_cast<size_t>(p)]; }

bool is_block_point(HookPoint p) {
  return p != HookPoint::Embed && p != HookPoint::PosEmbed && p != HookPoint::LnFinalScale &&
         p != HookPoint::LnFinalNormalized;
}

bool is_head_point(HookPoint p) {
  switch (p) {
    case HookPoint::AttnQ:
    case HookPoint::AttnK:
    case HookPoint::AttnV:
    case HookPoint::AttnRotQ:
    case HookPoint::AttnRotK:
    case HookPoint::AttnScores:
    case HookPoint::AttnPattern:
    case HookPoint::AttnZ:
      return true;
    default:
      return false;
  }
}

bool is_kv_head_point(HookPoint p) {
  return p == HookPoint::AttnK || p == HookPoint::AttnV || p == HookPoint::AttnRotK;
}

TpSplit tp_split(HookPoint p) {
  if (is_kv_head_point(p)) return TpSplit::KvHeads;
  if (is_head_point(p)) return TpSplit::Heads;
  if (p == HookPoint::MlpPre || p == HookPoint::MlpPreLinear || p == HookPoint::MlpPost)
    return TpSplit::Neurons;
  return TpSplit::Replicated;
}

bool is_pattern_point(HookPoint p) {
  return p == HookPoint::AttnScores || p == HookPoint::AttnPattern;
}

bool is_after_attention_point(HookPoint p) {
  return p >= HookPoint::AttnZ && p <= HookPoint::ResidPost;
}

std::string HookSite::name() const {
  if (!is_block_point(point)) return point_suffix(point);
  return "blocks." + std::to_string(layer) + "." + point_suffix(point);
}

std::optional<HookSite> parse_hook_site(const std::string& name) {
  for (int i = 0; i < kHookPointCount; ++i) {
    auto p = static_cast<HookPoint>(i);
    if (!is_block_point(p) && name == kSuffixes[i]) return HookSite{p, -1};
  }
  const std::string prefix = "blocks.";
  if (name.compare(0, prefix.size(), prefix) != 0) return std::nullopt;
  size_t dot = name.find('.', prefix.size());
  if (dot == std::string::npos || dot == prefix.size()) return std::nullopt;
  std::string digits = name.substr(prefix.size(), dot - prefix.size());
  for (char ch : digits)
    if (ch < '0' || ch > '9') return std::nullopt;
  if (digits.size() > 6) return std::nullopt;
  int64_t layer = std::atoll(digits.c_str());
  std::string rest = name.substr(dot + 1);
  for (int i = 0; i < kHookPointCount; ++i) {
    auto p = static_cast<HookPoint>(i);
    if (is_block_point(p) && rest == kSuffixes[i]) return HookSite{p, layer};
  }
  return std::nullopt;
}

bool site_exists(const HookSite& site, const ModelConfig& c, std::string* why) {
  auto fail = [&](const std::string& reason) {
    if (why) *why = reason;
    return false;
  };
  if (is_block_point(site.point)) {
    if (site.layer < 0 || site.layer >= c.n_layers)
      return fail("layer " + std::to_string(site.layer) + " out of range (model has " +
                  std::to_string(c.n_layers) + " layers: 0.." + std::to_string(c.n_layers - 1) +
                  ")");
  }
  switch (site.point) {
    case HookPoint::PosEmbed:
      if (!c.learned_pos_embed) return fail("this architecture has no learned position embedding");
      break;
    case HookPoint::AttnRotQ:
    case HookPoint::AttnRotK:
      if (c.rotary_dim == 0) return fail("this architecture has no rotary embedding");
      break;
    case HookPoint::ResidMid:
      if (c.parallel_residual) return fail("parallel-residual models have no resid_mid");
      break;
    case HookPoint::MlpPreLinear:
      if (!c.gated_mlp) return fail("only gated MLPs have hook_pre_linear");
      break;
    case HookPoint::Ln1PostScale:
    case HookPoint::Ln1PostNormalized:
    case HookPoint::Ln2PostScale:
    case HookPoint::Ln2PostNormalized:
      if (!c.post_norms) return fail("only Gemma 3 has ln1_post and ln2_post");
      break;
    default:
      break;
  }
  return true;
}

std::vector<HookSite> all_sites(const ModelConfig& c) {
  std::vector<HookSite> sites;
  auto push = [&](HookPoint p, int64_t layer) {
    HookSite s{p, layer};
    if (site_exists(s, c)) sites.push_back(s);
  };
  push(HookPoint::Embed, -1);
  push(HookPoint::PosEmbed, -1);
  for (int64_t l = 0; l < c.n_layers; ++l)
    for (int i = 0; i < kHookPointCount; ++i)
      if (is_block_point(static_cast<HookPoint>(i))) push(static_cast<HookPoint>(i), l);
  push(HookPoint::LnFinalScale, -1);
  push(HookPoint::LnFinalNormalized, -1);
  return sites;
}

}  // namespace csweep::model
