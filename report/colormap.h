#pragma once
// The diverging colour map of every heatmap: ColorBrewer RdBu reversed, so negative effects
// are blue, zero is near-white and positive effects are red.
namespace csweep::report {

struct Rgb {
  double r = 0, g = 0, b = 0;  // 0..1
};

// t in [-1, 1] (clamped); NaN gives missing_color().
Rgb diverging_color(double t);
Rgb missing_color();  // cells not computed yet

}  // namespace csweep::report
