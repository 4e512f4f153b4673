// Heatmaps: PNG and SVG written, orientation (layer 0 on top, columns left to right), the
// diverging scale centred on zero, grey for cells not computed, and one colour scale shared
// by every panel of a figure.
#include <cmath>
#include <functional>
#include <limits>

#include <gtest/gtest.h>

#include "common/error.h"
#include "report/colormap.h"
#include "report/heatmap.h"
#include "test_util.h"

namespace csweep::report {
namespace {

using testing::fresh_dir;
using testing::read_png;
using testing::read_text;

uint32_t hex(const Rgb& c) {
  auto b = [](double v) { return static_cast<uint32_t>(std::lround(v * 255.0)); };
  return (b(c.r) << 16) | (b(c.g) << 8) | b(c.b);
}

bool near(uint32_t a, uint32_t b) {
  for (int s : {0, 8, 16})
    if (std::abs(static_cast<int>((a >> s) & 0xFF) - static_cast<int>((b >> s) & 0xFF)) > 2)
      return false;
  return true;
}

struct ColourStats {
  int64_t count = 0;
  double mean_x = 0, mean_y = 0;
};

ColourStats find(const testing::Image& img, uint32_t colour) {
  ColourStats s;
  for (int y = 0; y < img.height; ++y)
    for (int x = 0; x < img.width; ++x)
      if (near(img.at(x, y), colour)) s.count++, s.mean_x += x, s.mean_y += y;
  if (s.count) s.mean_x /= s.count, s.mean_y /= s.count;
  return s;
}

std::vector<std::string> numbers(int64_t n) {
  std::vector<std::string> out;
  for (int64_t i = 0; i < n; ++i) out.push_back(std::to_string(i));
  return out;
}

// A layer x head figure of small multiples as reduce draws heads by position: one panel per
// position, "pos k: token"; cell i (row-major) of panel k holds value(k, i).
HeatmapFigure heads_by_position(const std::string& title, int rows, int cols, int panels,
                                const std::function<float(int, int)>& value) {
  HeatmapFigure f;
  f.title = title;
  f.row_axis = "layer", f.col_axis = "head";
  f.row_labels = numbers(rows), f.col_labels = numbers(cols);
  for (int k = 0; k < panels; ++k) {
    HeatmapPanel p;
    p.title = "pos " + std::to_string(k) + ": token";
    p.rows = rows, p.cols = cols;
    for (int i = 0; i < rows * cols; ++i) p.values.push_back(value(k, i));
    f.panels.push_back(p);
  }
  return f;
}

TEST(ReportHeatmap, LargeLayerByHeadGridIsOrientedAndCentredOnZero) {
  const auto dir = fresh_dir("heatmap-large");
  HeatmapFigure f;
  f.title = "head_patching (activation_patching)";
  f.subtitle = "mean logit_diff over 8 prompts";
  f.row_axis = "layer", f.col_axis = "head", f.colorbar_label = "logit_diff";
  f.row_labels = numbers(80), f.col_labels = numbers(64);
  HeatmapPanel p;
  p.rows = 80, p.cols = 64;
  for (int r = 0; r < 80; ++r)
    for (int c = 0; c < 64; ++c)
      p.values.push_back(r < 8 ? std::numeric_limits<float>::quiet_NaN() : c < 32 ? -2.0f : 2.0f);
  p.values[79 * 64 + 63] = 4.0f;  // the one extreme cell sets the limit
  f.panels.push_back(p);
  ASSERT_DOUBLE_EQ(color_limit(f), 4.0);
  HeatmapFigure odd = f;
  odd.panels[0].values[79 * 64 + 63] = 3.3f;
  EXPECT_DOUBLE_EQ(color_limit(odd), 4.0);  // rounded up so the colour bar's ticks read well
  odd.panels[0].values.assign(80 * 64, -0.979f);
  EXPECT_DOUBLE_EQ(color_limit(odd), 1.0);

  const auto paths = render_heatmap(f, dir / "big");
  ASSERT_EQ(paths.size(), 2u);
  const auto img = read_png(paths[0]);
  ASSERT_GT(img.width, 600);
  ASSERT_LT(img.width, 1700);  // readable, not a poster
  ASSERT_LT(img.height, 1300);

  const auto grey = find(img, hex(missing_color()));
  const auto blue = find(img, hex(diverging_color(-0.5)));
  const auto red = find(img, hex(diverging_color(0.5)));
  const auto darkest = find(img, hex(diverging_color(1.0)));
  ASSERT_GT(blue.count, 1000);
  ASSERT_GT(red.count, 1000);
  ASSERT_GT(grey.count, 500);
  EXPECT_LT(blue.mean_x, red.mean_x);   // negative heads on the left
  EXPECT_LT(grey.mean_y, blue.mean_y);  // layer 0..7 (not computed) on top
  EXPECT_GT(darkest.count, 20);         // the extreme cell (and the colour bar's top)

  const std::string svg = read_text(paths[1]);
  EXPECT_NE(svg.find("<svg"), std::string::npos);
  EXPECT_GT(svg.size(), 10000u);
}

TEST(ReportHeatmap, SmallMultiplesShareOneColourScale) {
  const auto dir = fresh_dir("heatmap-multiples");
  // 1, 2, 3 with a shared limit of 3
  const HeatmapFigure f = heads_by_position("heads by position", 4, 6, 3,
                                            [](int k, int) { return static_cast<float>(k + 1); });
  const auto img = read_png(render_heatmap(f, dir / "multi")[0]);
  for (int k = 0; k < 3; ++k) {
    const auto s = find(img, hex(diverging_color((k + 1) / 3.0)));
    EXPECT_GT(s.count, 24 * 100) << "panel " << k << " is not drawn on the shared scale";
  }
}

TEST(ReportHeatmap, TokenLabelsAndOneRowStrips) {
  const auto dir = fresh_dir("heatmap-tokens");
  HeatmapFigure f;
  f.title = "tracing";
  f.row_axis = "layer", f.col_axis = "pos";
  f.row_labels = numbers(2);
  f.col_labels = {"0:When", "1: Mary", "2:\xff\xfe broken utf8", "3:\n"};
  HeatmapPanel p;
  p.rows = 2, p.cols = 4;
  p.values = {0, 1, -1, 0.5f, 0, 0, 0, 0};
  f.panels.push_back(p);
  const auto paths = render_heatmap(f, dir / "tokens");
  EXPECT_GT(read_png(paths[0]).width, 100);
}

// 80 layers x 64 heads x 6 positions as small multiples: the figure stays a readable size
// (cells shrink, labels thin out) and every panel is drawn.
TEST(ReportHeatmap, ManyLargePanelsStayBounded) {
  const auto dir = fresh_dir("heatmap-many");
  const HeatmapFigure f =
      heads_by_position("heads by position, 80 layers", 80, 64, 6,
                        [](int k, int i) { return static_cast<float>(std::sin(i * 0.01 + k)); });
  const auto img = read_png(render_heatmap(f, dir / "many")[0]);
  EXPECT_LT(img.width, 2200);
  EXPECT_LT(img.height, 2200);
  EXPECT_GT(
      find(img, hex(diverging_color(1.0))).count + find(img, hex(diverging_color(-1.0))).count, 6);
}

TEST(ReportHeatmap, InconsistentPanelsAreRejected) {
  const auto dir = fresh_dir("heatmap-bad");
  HeatmapFigure f;
  f.title = "bad";
  f.row_labels = numbers(2), f.col_labels = numbers(2);
  HeatmapPanel p;
  p.rows = 2, p.cols = 2;
  p.values = {1, 2, 3};
  f.panels.push_back(p);
  EXPECT_THROW(render_heatmap(f, dir / "bad"), Error);
  f.panels.clear();
  EXPECT_THROW(render_heatmap(f, dir / "bad"), Error);
}

}  // namespace
}  // namespace csweep::report
