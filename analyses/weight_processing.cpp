#include "analyses/weight_processing.h"
#include <ATen/core/grad_mode.h>

namespace csweep::analyses {

namespace {

bool has(const at::Tensor& t) { return t.defined(); }

// x @ W.T + b after a norm with weight w and bias beta  ==  core(x) @ (W * w).T + (b + W @ beta).
void fold_into(at::Tensor& W, at::Tensor& b, const at::Tensor& norm_w, const at::Tensor& norm_b,
               bool center) {
  if (!has(W)) return;
  if (has(norm_b)) b = (has(b) ? b : at::zeros({W.size(0)}, W.options())) + at::mv(W, norm_b);
  if (has(norm_w)) W = W * norm_w.unsqueeze(0);
  // LayerNorm's core output has zero mean, so each row's input-mean never mattered (TL centres it).
  if (center) W = W - W.mean(1, true);
}

void fold_ln(model::Model& m) {
  auto& w = m.mutable_weights();
  const bool ln = m.config().norm == model::NormKind::LayerNorm;
  for (auto& lw : w.layers) {
    fold_into(lw.W_Q, lw.b_Q, lw.ln1_w, lw.ln1_b, ln);
    fold_into(lw.W_K, lw.b_K, lw.ln1_w, lw.ln1_b, ln);
    fold_into(lw.W_V, lw.b_V, lw.ln1_w, lw.ln1_b, ln);
    at::Tensor no_bias;  // gated MLPs (RMSNorm models) have no gate bias and no norm bias
    fold_into(lw.W_gate, no_bias, lw.ln2_w, lw.ln2_b, ln);
    fold_into(lw.W_in, lw.b_in, lw.ln2_w, lw.ln2_b, ln);
    lw.ln1_w = at::ones_like(lw.ln1_w);
    lw.ln2_w = at::ones_like(lw.ln2_w);
    if (has(lw.ln1_b)) lw.ln1_b = at::zeros_like(lw.ln1_b);
    if (has(lw.ln2_b)) lw.ln2_b = at::zeros_like(lw.ln2_b);
  }
  fold_into(w.W_U, w.b_U, w.ln_final_w, w.ln_final_b, ln);
  w.ln_final_w = at::ones_like(w.ln_final_w);
  if (has(w.ln_final_b)) w.ln_final_b = at::zeros_like(w.ln_final_b);
}

void center_writing(model::Model& m) {
  auto& w = m.mutable_weights();
  auto center_rows =
      [](at::Tensor& t) {  // [n, d]: every row written to the residual, zero mean over d
        if (has(t)) t = t - t.mean(1, true);
      };
  auto center_out = [](at::Tensor& W,
                       at::Tensor& b) {  // [d, k] writes a d-vector: zero mean over d
    if (has(W)) W = W - W.mean(0, true);
    if (has(b)) b = b - b.mean();
  };
  center_rows(w.W_E);
  center_rows(w.W_pos);
  for (auto& lw : w.layers) {
    center_out(lw.W_O, lw.b_O);
    center_out(lw.W_out, lw.b_out);
  }
}

void center_unembed(model::Model& m) {
  auto& w = m.mutable_weights();
  w.W_U = w.W_U - w.W_U.mean(0, true);
  if (has(w.b_U)) w.b_U = w.b_U - w.b_U.mean();
}

void fold_value_biases(model::Model& m) {
  const auto& c = m.config();
  const model::Partition& part = m.partition();  // the rank's heads (all of them on one rank)
  auto& w = m.mutable_weights();
  for (auto& lw : w.layers) {
    if (!has(lw.b_V)) continue;
    // Each query head h reads value head h / group: expand b_V to one entry per query head.
    const int64_t group = part.q_count / part.kv_count;
    at::Tensor b_v = lw.b_V.view({part.kv_count, 1, c.d_head})
                         .expand({part.kv_count, group, c.d_head})
                         .reshape({-1});
    at::Tensor shift = at::mv(lw.W_O, b_v);
    // Under tensor parallelism each rank sums only its heads: b_O, replicated, needs all of them.
    if (!part.whole()) m.group().all_reduce_sum(shift);
    lw.b_O = has(lw.b_O) ? lw.b_O + shift : shift;
    lw.b_V = at::zeros_like(lw.b_V);
  }
}

}  // namespace

void process_weights(model::Model& model, const WeightProcessing& o) {
  at::NoGradGuard no_grad;
  const bool ln = model.config().norm == model::NormKind::LayerNorm;
  if (o.fold_ln) fold_ln(model);
  if (o.center_writing_weights && ln) center_writing(model);
  if (o.center_unembed) center_unembed(model);
  if (o.fold_value_biases) fold_value_biases(model);
}

}  // namespace csweep::analyses
