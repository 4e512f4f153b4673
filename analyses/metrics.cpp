#include "analyses/metrics.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "common/error.h"

namespace csweep::analyses {

const char* metric_name(MetricKind kind) {
  switch (kind) {
    case MetricKind::LogitDiff:
      return "logit_diff";
    case MetricKind::Prob:
      return "prob";
    case MetricKind::LogProb:
      return "logprob";
    case MetricKind::KL:
      return "kl";
  }
  return "?";
}

MetricKind parse_metric(const std::string& name) {
  for (auto k : {MetricKind::LogitDiff, MetricKind::Prob, MetricKind::LogProb, MetricKind::KL}) {
    if (name == metric_name(k)) return k;
  }
  throw Error("metric: unknown metric '" + name + "' (expected logit_diff, prob, logprob or kl)");
}

Metric::Metric(MetricKind kind, std::vector<AnswerPair> pairs, at::Tensor clean_logits_last)
    : kind_(kind), pairs_(std::move(pairs)) {
  if (pairs_.empty() && kind_ != MetricKind::KL) {
    throw Error(std::string("metric: ") + metric_name(kind_) +
                ": needs at least one answer/wrong pair");
  }
  if (kind_ == MetricKind::KL) {
    if (!clean_logits_last.defined()) throw Error("metric: kl: needs the clean run's logits");
    clean_logprobs_ = at::log_softmax(clean_logits_last.to(at::kFloat).reshape({-1}), 0);
  }
}

static at::Tensor last_position(const at::Tensor& logits) {
  if (logits.dim() == 3) return logits.select(1, logits.size(1) - 1);
  if (logits.dim() == 2) return logits;
  throw Error("metric: logits must be [B, V] or [B, P, V], got " + std::to_string(logits.dim()) +
              " dims");
}

at::Tensor Metric::differentiable(const at::Tensor& logits) const {
  at::Tensor last = last_position(logits).to(at::kFloat);  // [B, V]
  const auto device = last.device();
  auto ids = [&](bool answer) {
    std::vector<int64_t> v;
    for (const auto& p : pairs_) v.push_back(answer ? p.answer : p.wrong);
    return at::tensor(v, at::TensorOptions().dtype(at::kLong)).to(device);
  };
  switch (kind_) {
    case MetricKind::LogitDiff:
      return (last.index_select(1, ids(true)) - last.index_select(1, ids(false))).mean(1);
    case MetricKind::Prob:
      return at::softmax(last, 1).index_select(1, ids(true)).mean(1);
    case MetricKind::LogProb:
      return at::log_softmax(last, 1).index_select(1, ids(true)).mean(1);
    case MetricKind::KL: {
      at::Tensor clean = clean_logprobs_.to(device).unsqueeze(0);  // [1, V]
      at::Tensor run = at::log_softmax(last, 1);
      return (clean.exp() * (clean - run)).sum(1);
    }
  }
  return {};
}

at::Tensor Metric::operator()(const at::Tensor& logits) const {
  return differentiable(logits).detach().to(at::kCPU).contiguous();
}

std::vector<int64_t> Metric::columns() const {
  if (kind_ != MetricKind::LogitDiff) return {};
  std::vector<int64_t> cols;
  for (const auto& p : pairs_) {
    cols.push_back(p.answer);
    cols.push_back(p.wrong);
  }
  std::sort(cols.begin(), cols.end());
  cols.erase(std::unique(cols.begin(), cols.end()), cols.end());
  return cols;
}

Metric Metric::restricted() const {
  const std::vector<int64_t> cols = columns();
  if (cols.empty()) return *this;
  auto column_of = [&](int64_t id) {
    return static_cast<int64_t>(std::lower_bound(cols.begin(), cols.end(), id) - cols.begin());
  };
  std::vector<AnswerPair> pairs;
  for (const auto& p : pairs_) pairs.push_back({column_of(p.answer), column_of(p.wrong)});
  return Metric(kind_, std::move(pairs));
}

double fraction_recovered(double patched, double clean, double corrupted) {
  const double span = clean - corrupted;
  if (span == 0.0) return std::numeric_limits<double>::quiet_NaN();
  return (patched - corrupted) / span;
}

}  // namespace csweep::analyses
