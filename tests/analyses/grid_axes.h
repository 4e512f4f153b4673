#pragma once
// Grid axes and a prompt pair for the kinds' tests: an axis over every index of a model dimension,
// the fixture's clean/corrupted prompt with its answer pair, and plain-forward references.
#include <cstdint>
#include <exception>
#include <map>
#include <string>
#include <vector>

#include "analyses/sweep.h"

namespace csweep::analyses::testing {

inline const std::vector<int64_t> kClean = {201, 888, 641, 766, 85, 445, 885, 339};
inline const std::vector<int64_t> kCorrupted = {201, 888, 45, 766, 85, 122, 885, 339};

// A request of `kind` at `point` on kClean / kCorrupted with the answer pair 613 / 486, token ids
// taken modulo the model's vocabulary (the random models' vocabularies are small).
inline SweepRequest prompt_pair_request(const model::Model& m, const std::string& kind,
                                        model::HookPoint point) {
  SweepRequest r;
  r.kind = kind;
  r.point = point;
  const int64_t V = m.config().d_vocab;
  for (int64_t t : kClean) r.clean_tokens.push_back(t % V);
  for (int64_t t : kCorrupted) r.corrupted_tokens.push_back(t % V);
  r.answers = {{613 % V, 486 % V}};
  return r;
}

// Plain-forward references: a prompt's token tensor [1, p], every hook_z and hook_mlp_out of its
// forward, and the first answer pair's logit difference at the last position.
inline at::Tensor tokens_of(const std::vector<int64_t>& ids) {
  return at::tensor(ids, at::TensorOptions().dtype(at::kLong)).unsqueeze(0);
}

inline std::map<model::HookSite, at::Tensor> outputs(const model::Model& m,
                                                     const std::vector<int64_t>& ids) {
  model::Hooks hooks;
  for (int64_t l = 0; l < m.config().n_layers; ++l) {
    hooks.cache({model::HookPoint::AttnZ, l});
    hooks.cache({model::HookPoint::MlpOut, l});
  }
  m.forward(tokens_of(ids), &hooks);
  return hooks.cache();
}

inline float logit_diff(const at::Tensor& logits, const SweepRequest& r) {
  const at::Tensor last = logits[0][logits.size(1) - 1].to(at::kFloat);
  return (last[r.answers[0].answer] - last[r.answers[0].wrong]).item<float>();
}

// The activation at `want` of block l run alone from `resid` (its hook_resid_pre) with `hooks`;
// the autograd graph is kept.
inline at::Tensor block_activation(const model::Model& m, int64_t l, const at::Tensor& resid,
                                   model::Hooks hooks, const model::HookSite& want) {
  at::Tensor out;
  hooks.add(want, [&out](at::Tensor& act, const model::HookSite&) { out = act; });
  model::ForwardOptions o;
  o.start_layer = l;
  o.start_resid = resid;
  o.stop_layer = l + 1;
  m.forward(at::Tensor(), &hooks, o);
  return out;
}

// The message run_cells throws for the first cell of `axes` ("no error" when it throws none).
inline std::string cells_error(const model::Model& m, const SweepRequest& r,
                               const std::vector<GridAxis>& axes, CacheStore& caches) {
  try {
    run_cells(m, r, axes, 0, 1, caches);
  } catch (const std::exception& e) {
    return e.what();
  }
  return "no error";
}

// The axis `name` over 0..n-1 (every layer, head, scale, ...).
inline GridAxis every_index(const std::string& name, int64_t n) {
  GridAxis a{name, {}, {}};
  for (int64_t i = 0; i < n; ++i) a.values.push_back(i);
  return a;
}

}  // namespace csweep::analyses::testing
