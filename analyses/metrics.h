#pragma once
// Metrics: one number per batch row from the last-position logits of a (patched) run.
// Always computed in fp32 whatever the model's dtype, so bf16 sweeps round only once.
#include <cstdint>
#include <string>
#include <vector>

#include <ATen/ATen.h>

namespace csweep::analyses {

enum class MetricKind {
  LogitDiff,  // mean over pairs of logit(answer) - logit(wrong)            (TransformerLens
              // default)
  Prob,       // mean over pairs of softmax(logits)[answer]
  LogProb,    // mean over pairs of log_softmax(logits)[answer]
  KL,         // KL(clean || run) of the last-position distributions (needs clean logits)
};
const char* metric_name(MetricKind kind);          // "logit_diff", "prob", "logprob", "kl"
MetricKind parse_metric(const std::string& name);  // throws csweep::Error "metric: unknown ..."

struct AnswerPair {
  int64_t answer = 0;
  int64_t wrong = 0;
};

class Metric {
 public:
  // clean_logits_last [V] (or [1, V]) is required for KL and ignored otherwise.
  Metric(MetricKind kind, std::vector<AnswerPair> pairs, at::Tensor clean_logits_last = {});

  // logits: [B, V], [B, 1, V] or [B, P, V] (the last position is used). Returns [B] fp32 on CPU.
  at::Tensor operator()(const at::Tensor& logits) const;
  // Differentiable version for attribution patching: [B] on the logits' device, graph kept.
  at::Tensor differentiable(const at::Tensor& logits) const;

  // The vocabulary entries the metric reads (logit_diff: the answer and wrong tokens), or empty
  // when it needs every logit (softmax-based metrics): sweeps then unembed only these columns.
  std::vector<int64_t> columns() const;
  // The same metric over logits restricted to columns(), in that order.
  Metric restricted() const;

  MetricKind kind() const { return kind_; }
  const std::vector<AnswerPair>& pairs() const { return pairs_; }

 private:
  MetricKind kind_;
  std::vector<AnswerPair> pairs_;
  at::Tensor clean_logprobs_;  // [V] fp32 (KL only)
};

// The normalised score applied at reduce time: (patched - corrupted) / (clean - corrupted).
// 0 = no effect, 1 = fully restored. NaN when clean == corrupted (nothing to recover).
double fraction_recovered(double patched, double clean, double corrupted);

}  // namespace csweep::analyses
