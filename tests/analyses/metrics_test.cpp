#include <cmath>

#include <gtest/gtest.h>

#include "analyses/metrics.h"
#include "common/error.h"

namespace csweep::analyses {
namespace {

TEST(Metrics, LogitDiffAveragesPairsAtTheLastPosition) {
  at::Tensor logits = at::zeros({2, 3, 5});
  logits[0][2][1] = 4.0;  // row 0, last position
  logits[0][2][3] = 1.0;
  logits[0][0][1] = 100.0;  // an earlier position never counts
  logits[1][2][2] = 2.0;
  Metric m(MetricKind::LogitDiff, {{1, 3}, {2, 0}});
  at::Tensor v = m(logits);
  ASSERT_EQ(v.size(0), 2);
  EXPECT_FLOAT_EQ(v[0].item<float>(), ((4.0 - 1.0) + (0.0 - 0.0)) / 2);
  EXPECT_FLOAT_EQ(v[1].item<float>(), ((0.0 - 0.0) + (2.0 - 0.0)) / 2);
}

TEST(Metrics, ProbLogProbAndKL) {
  at::Tensor logits = at::tensor({1.0f, 2.0f, 3.0f, 0.5f}).view({1, 4});
  at::Tensor p = at::softmax(logits, 1)[0];
  EXPECT_NEAR(Metric(MetricKind::Prob, {{2, 0}})(logits)[0].item<float>(), p[2].item<float>(),
              1e-7);
  EXPECT_NEAR(Metric(MetricKind::LogProb, {{2, 0}, {1, 0}})(logits)[0].item<float>(),
              (std::log(p[2].item<float>()) + std::log(p[1].item<float>())) / 2, 1e-6);
  at::Tensor clean = at::tensor({0.0f, 1.0f, 0.0f, 2.0f}).view({1, 4});
  Metric kl(MetricKind::KL, {}, clean);
  EXPECT_NEAR(kl(clean)[0].item<float>(), 0.0, 1e-7);  // no divergence from itself
  at::Tensor q = at::softmax(clean, 1)[0];
  double expected = 0.0;
  for (int i = 0; i < 4; ++i)
    expected +=
        q[i].item<double>() * (std::log(q[i].item<double>()) - std::log(p[i].item<double>()));
  EXPECT_NEAR(kl(logits)[0].item<float>(), expected, 1e-6);
}

TEST(Metrics, Bf16LogitsAreScoredInFp32) {
  at::Tensor logits = at::tensor({1.0f, 2.5f}).view({1, 2}).to(at::kBFloat16);
  at::Tensor v = Metric(MetricKind::LogitDiff, {{1, 0}})(logits);
  EXPECT_EQ(v.scalar_type(), at::kFloat);
  EXPECT_FLOAT_EQ(v[0].item<float>(), 1.5f);
}

TEST(Metrics, FractionRecovered) {
  EXPECT_DOUBLE_EQ(fraction_recovered(2.0, 3.0, -1.0), 0.75);
  EXPECT_DOUBLE_EQ(fraction_recovered(-1.0, 3.0, -1.0), 0.0);
  EXPECT_TRUE(std::isnan(fraction_recovered(1.0, 2.0, 2.0)));
}

TEST(Metrics, BadInput) {
  EXPECT_THROW(Metric(MetricKind::LogitDiff, {}), Error);
  EXPECT_THROW(Metric(MetricKind::KL, {}), Error);
  EXPECT_THROW(parse_metric("accuracy"), Error);
  EXPECT_EQ(parse_metric("logprob"), MetricKind::LogProb);
}

}  // namespace
}  // namespace csweep::analyses
