#include "report/colormap.h"

#include <algorithm>
#include <cmath>

namespace csweep::report {
namespace {

// ColorBrewer RdBu (11 classes), from -1 (dark blue) to +1 (dark red).
constexpr unsigned kStops[] = {0x053061, 0x2166ac, 0x4393c3, 0x92c5de, 0xd1e5f0, 0xf7f7f7,
                               0xfddbc7, 0xf4a582, 0xd6604d, 0xb2182b, 0x67001f};
constexpr int kNStops = sizeof(kStops) / sizeof(kStops[0]);

Rgb rgb(unsigned hex) {
  return {((hex >> 16) & 0xff) / 255.0, ((hex >> 8) & 0xff) / 255.0, (hex & 0xff) / 255.0};
}

}  // namespace

Rgb diverging_color(double t) {
  if (std::isnan(t)) return missing_color();
  t = std::clamp(t, -1.0, 1.0);
  const double x = (t + 1.0) / 2.0 * (kNStops - 1);
  const int i = std::min(static_cast<int>(x), kNStops - 2);
  const double f = x - i;
  const Rgb a = rgb(kStops[i]), b = rgb(kStops[i + 1]);
  return {a.r + f * (b.r - a.r), a.g + f * (b.g - a.g), a.b + f * (b.b - a.b)};
}

Rgb missing_color() { return {0.80, 0.80, 0.80}; }

}  // namespace csweep::report
