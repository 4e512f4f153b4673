#pragma once
// Tensor-parallel exactness: the outputs one model gives (logits, every hook site's cache,
// patched forwards on sharded and replicated sites, Model::resume with edits) so that a rank
// of a TP group and the one-process model can be compared. Shared by the in-process test
// (torch_tensor_parallel_test.cpp) and the MPI one (tp_mpi_check.cpp).
#include <algorithm>
#include <exception>
#include <filesystem>
#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <ATen/ATen.h>

#include "model/in_process_collective.h"
#include "model/model.h"
#include "model/safetensors.h"
#include "model/tensor_io.h"

namespace csweep::model::testing {

// The fixture's reference tokens (reference.safetensors), or 2 x 8 fixed ids.
inline at::Tensor tp_tokens(const std::filesystem::path& dir) {
  const std::filesystem::path ref = dir / "reference.safetensors";
  if (!std::filesystem::exists(ref))
    return at::arange(16, at::TensorOptions().dtype(at::kLong)).view({2, 8}) * 7 + 3;
  auto file = SafetensorsFile::open(ref);
  return to_tensor(*file->find("tokens"), at::kLong, at::kCPU);
}

// What a model computes for `tokens` [b >= 2, P >= 8]; every rank of a group must call this
// together (it runs forwards).
inline std::map<std::string, at::Tensor> tp_outputs(const Model& m, const at::Tensor& tokens) {
  c10::InferenceMode guard;
  const ModelConfig& c = m.config();
  const int64_t last = c.n_layers - 1, P = tokens.size(1), H = c.n_heads;
  std::map<std::string, at::Tensor> out;
  out["logits"] = m.forward(tokens);
  {
    Hooks h;
    h.cache_all(nullptr);
    out["logits with every site cached"] = m.forward(tokens, &h);
    for (const auto& [site, t] : h.cache()) out["cache " + site.name()] = t;
  }
  {  // edits of query heads, KV heads, neurons and the residual; fused attention
    Hooks h;
    h.add({HookPoint::AttnZ, 0}, zero({{}, {2, 5}, {1}}));
    h.add({HookPoint::AttnV, last}, scale(0.5, {{}, {}, {0}}));
    h.add({HookPoint::MlpPost, 0}, scale(-1.0, {{}, {4}, {}}));
    h.add({HookPoint::ResidPre, last}, add_to(at::full({1, P, c.d_model}, 0.1), {{0}, {}, {}}));
    h.add({HookPoint::AttnQ, last}, scale(2.0, {{}, {}, {H - 1}}));
    out["patched"] = m.forward(tokens, &h);
  }
  {  // a pattern edit (the explicit attention path) and a read-only cache of one head site
    Hooks h;
    h.add({HookPoint::AttnPattern, 0}, scale(0.0, {{}, {6}, {H / 2}}));
    h.cache({HookPoint::AttnZ, last});
    out["pattern patched"] = m.forward(tokens, &h, {0, {}, -1, ForwardOptions::Logits::Last});
    out["pattern patched z"] = h.cache().at({HookPoint::AttnZ, last});
  }
  {  // suffix recompute from a cached run: whole blocks, a KV edit, an after-attention entry
    const std::map<HookSite, at::Tensor> cached = [&] {
      Hooks h;
      for (const HookSite& s : resume_sites(c)) h.cache(s);
      m.forward(tokens.narrow(0, 0, 1), &h);
      return h.cache();
    }();
    Hooks a, b, z;
    a.add({HookPoint::ResidPre, last}, add_to(at::full({1, P - 3, c.d_model}, 0.3), {}));
    b.add({HookPoint::AttnK, 0}, zero({{}, {}, {0}}));
    z.add({HookPoint::AttnZ, last}, zero({{}, {0, 1}, {H - 1}}));
    std::vector<ResumeGroup> groups{{2, last, 3, 0, &a}, {1, 0, 2, 0, &b}, {1, last, 4, 6, &z}};
    out["resume"] = m.resume(cached, groups);
  }
  return out;
}

// "" when every output of `got` is within `tol` of `want`, or within one part in 10^6 of its
// largest value where that is above 10 (logits ~17: a few fp32 ulps of summation order), with
// equal -inf entries allowed; else what differs first.
inline std::string tp_mismatch(const std::map<std::string, at::Tensor>& want,
                               const std::map<std::string, at::Tensor>& got, double tol) {
  if (want.size() != got.size())
    return std::to_string(got.size()) + " outputs, expected " + std::to_string(want.size());
  for (const auto& [name, w] : want) {
    auto it = got.find(name);
    if (it == got.end()) return "no output " + name;
    const at::Tensor& g = it->second;
    if (g.sizes() != w.sizes()) {
      std::ostringstream s;
      s << name << ": shape " << g.sizes() << ", expected " << w.sizes();
      return s.str();
    }
    at::Tensor fw = w.to(at::kDouble), fg = g.to(at::kDouble);
    at::Tensor same_inf = fw.isinf().logical_and(fg == fw);
    const double diff = (fw - fg).abs().masked_fill(same_inf, 0).max().item<double>();
    const double largest = fw.masked_fill(fw.isinf(), 0).abs().max().item<double>();
    if (!(diff <= std::max(tol, 1e-6 * largest)))
      return name + ": max abs diff " + std::to_string(diff) + " (max |value| " +
             std::to_string(largest) + ")";
  }
  return "";
}

// body(rank) on each rank of an in-process group of T, each on its own thread: what every
// rank's body returned, and in `errors` each rank's exception message ("" when it returned).
template <class Body>
auto on_thread_ranks(int T, Body body, std::vector<std::string>& errors) {
  InProcessGroup group(T);
  std::vector<decltype(body(std::declval<Collective&>()))> out(static_cast<size_t>(T));
  errors.assign(static_cast<size_t>(T), "");
  std::vector<std::thread> threads;
  for (int r = 0; r < T; ++r)
    threads.emplace_back([&, r] {
      try {
        out[static_cast<size_t>(r)] = body(group.rank(r));
      } catch (const std::exception& e) {
        errors[static_cast<size_t>(r)] = e.what();
      }
    });
  for (auto& t : threads) t.join();
  return out;
}

}  // namespace csweep::model::testing
