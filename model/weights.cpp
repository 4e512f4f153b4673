#include "model/weights.h"

namespace csweep::model {

std::vector<std::pair<std::string, at::Tensor*>> Weights::named() {
  std::vector<std::pair<std::string, at::Tensor*>> out;
  auto add = [&](const std::string& name, at::Tensor& t) {
    if (t.defined()) out.emplace_back(name, &t);
  };
  add("W_E", W_E);
  add("W_pos", W_pos);
  for (size_t l = 0; l < layers.size(); ++l) {
    LayerWeights& w = layers[l];
    const std::string p = "blocks." + std::to_string(l) + ".";
    add(p + "ln1_w", w.ln1_w);
    add(p + "ln1_b", w.ln1_b);
    add(p + "W_Q", w.W_Q);
    add(p + "b_Q", w.b_Q);
    add(p + "W_K", w.W_K);
    add(p + "b_K", w.b_K);
    add(p + "W_V", w.W_V);
    add(p + "b_V", w.b_V);
    add(p + "W_O", w.W_O);
    add(p + "b_O", w.b_O);
    add(p + "q_norm_w", w.q_norm_w);
    add(p + "k_norm_w", w.k_norm_w);
    add(p + "ln1_post_w", w.ln1_post_w);
    add(p + "ln2_w", w.ln2_w);
    add(p + "ln2_b", w.ln2_b);
    add(p + "W_in", w.W_in);
    add(p + "b_in", w.b_in);
    add(p + "W_gate", w.W_gate);
    add(p + "W_out", w.W_out);
    add(p + "b_out", w.b_out);
    add(p + "ln2_post_w", w.ln2_post_w);
  }
  add("ln_final_w", ln_final_w);
  add("ln_final_b", ln_final_b);
  // A tied unembedding is the embedding itself: list it once.
  if (!(W_U.defined() && W_E.defined() && W_U.is_same(W_E))) add("W_U", W_U);
  add("b_U", b_U);
  return out;
}

}  // namespace csweep::model
