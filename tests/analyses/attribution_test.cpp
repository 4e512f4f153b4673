// Attribution patching on the fixture: exact where source and target agree, and its rank
// correlation with exact activation patching (printed: the figure the docs report).
#include <algorithm>
#include <fstream>
#include <numeric>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "random_models.h"
#include "tests/analyses/request_grid.h"

namespace csweep::analyses {
namespace {

using model::HookPoint;

std::vector<double> ranks(const std::vector<float>& v) {
  std::vector<size_t> order(v.size());
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return v[a] < v[b]; });
  std::vector<double> r(v.size());
  for (size_t i = 0; i < order.size();) {  // ties share their mean rank
    size_t j = i;
    while (j + 1 < order.size() && v[order[j + 1]] == v[order[i]]) ++j;
    for (size_t k = i; k <= j; ++k) r[order[k]] = (i + j) / 2.0;
    i = j + 1;
  }
  return r;
}

double spearman(const std::vector<float>& a, const std::vector<float>& b) {
  const auto ra = ranks(a), rb = ranks(b);
  const double ma = std::accumulate(ra.begin(), ra.end(), 0.0) / ra.size();
  const double mb = std::accumulate(rb.begin(), rb.end(), 0.0) / rb.size();
  double num = 0, da = 0, db = 0;
  for (size_t i = 0; i < ra.size(); ++i) {
    num += (ra[i] - ma) * (rb[i] - mb);
    da += (ra[i] - ma) * (ra[i] - ma);
    db += (rb[i] - mb) * (rb[i] - mb);
  }
  return num / std::sqrt(da * db);
}

SweepRequest fixture_request(HookPoint point) {
  std::ifstream in(std::string(testing::fixture_dir()) + "/reference.json");
  const auto ref = nlohmann::json::parse(in);
  SweepRequest r;
  r.point = point;
  r.clean_tokens = ref["prompt"]["clean_tokens"].get<std::vector<int64_t>>();
  r.corrupted_tokens = ref["prompt"]["corrupted_tokens"].get<std::vector<int64_t>>();
  r.answers = {
      {ref["prompt"]["answer_token"].get<int64_t>(), ref["prompt"]["wrong_token"].get<int64_t>()}};
  return r;
}

TEST(AttributionPatching, CorrelatesWithExactPatching) {
  auto m = testing::load_fixture_gpt2();
  CacheStore caches;
  for (HookPoint point : {HookPoint::AttnZ, HookPoint::ResidPre, HookPoint::AttnOut,
                          HookPoint::MlpOut, HookPoint::AttnPattern}) {
    SweepRequest exact = fixture_request(point);
    SweepRequest atp = exact;
    atp.kind = "attribution_patching";
    const int64_t n = grid_cells(grid_axes(exact, m->config()));
    ASSERT_EQ(grid_cells(grid_axes(atp, m->config())), n);
    const auto e = run_cells(*m, exact, 0, n, caches);
    const auto a = run_cells(*m, atp, 0, n, caches);
    const double rho = spearman(e, a);
    std::printf("[atp] %-18s %3ld cells  Spearman rho vs exact patching = %.3f\n",
                model::point_suffix(point), static_cast<long>(n), rho);
    // Far from exact on a random model with large corruptions (resid_pre ~0.4), never unrelated.
    EXPECT_GT(rho, 0.3) << model::point_suffix(point);
    // Where clean and corrupted activations are identical (positions before the first
    // corrupted token) the estimate is exactly the unpatched metric, like exact patching.
    const auto axes = grid_axes(exact, m->config());
    const int64_t per_layer = n / axes[0].size();
    for (int64_t i = 0; i < per_layer; ++i) {
      const int64_t pos = axes[1].values[i / (axes.size() == 3 ? axes[2].size() : 1)];
      if (pos < 2) {
        EXPECT_NEAR(a[i], e[i], 1e-4) << "cell " << i;
      }
    }
  }
}

TEST(AttributionPatching, QkFixOnQueriesAndKeys) {
  for (auto m : {testing::load_fixture_gpt2(), testing::random_llama(9)}) {
    CacheStore caches;
    for (HookPoint point : {HookPoint::AttnQ, HookPoint::AttnK}) {
      SweepRequest exact = fixture_request(point);
      if (m->config().d_vocab < 1000) {  // the Llama-shaped model has 500 tokens
        for (auto& t : exact.clean_tokens) t %= 500;
        for (auto& t : exact.corrupted_tokens) t %= 500;
        exact.answers = {{13, 29}};
      }
      SweepRequest atp = exact;
      atp.kind = "attribution_patching";
      const int64_t n = grid_cells(grid_axes(exact, m->config()));
      const auto e = run_cells(*m, exact, 0, n, caches);
      const auto plain_atp = run_cells(*m, atp, 0, n, caches);
      atp.atp_qk_fix = true;
      const auto fixed = run_cells(*m, atp, 0, n, caches);
      double err_plain = 0, err_fixed = 0;
      for (int64_t i = 0; i < n; ++i) {
        err_plain += std::abs(plain_atp[i] - e[i]) / n;
        err_fixed += std::abs(fixed[i] - e[i]) / n;
      }
      const double rho_plain = spearman(e, plain_atp), rho_fixed = spearman(e, fixed);
      std::printf("[atp] %-6s %-12s rho AtP %.3f -> AtP* QK fix %.3f; mean |error| %.4f -> %.4f\n",
                  model::arch_name(m->config().arch), model::point_suffix(point), rho_plain,
                  rho_fixed, err_plain, err_fixed);
      EXPECT_GT(rho_fixed, 0.3);
      // Cells with identical clean and corrupted q/k (before the first corrupted token) are exact.
      EXPECT_NEAR(fixed[0], e[0], 1e-4);
    }
  }
}

TEST(AttributionPatching, BackwardMatchesAcrossCellRanges) {
  auto m = testing::random_llama(5);
  SweepRequest r;
  r.kind = "attribution_patching";
  r.point = HookPoint::AttnV;
  r.clean_tokens = {1, 2, 3, 4, 5, 6};
  r.corrupted_tokens = {1, 2, 9, 4, 5, 6};
  r.answers = {{7, 8}};
  CacheStore caches;
  const int64_t n = grid_cells(grid_axes(r, m->config()));
  const auto whole = run_cells(*m, r, 0, n, caches);
  const auto tail = run_cells(*m, r, n / 2, n, caches);
  for (int64_t i = n / 2; i < n; ++i) EXPECT_NEAR(whole[i], tail[i - n / 2], 1e-5);
}

}  // namespace
}  // namespace csweep::analyses
