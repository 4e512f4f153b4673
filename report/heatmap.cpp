#include "report/heatmap.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include <cairo-svg.h>
#include <cairo.h>

#include "common/error.h"
#include "report/colormap.h"
#include "report/text.h"

namespace csweep::report {
namespace {

constexpr const char* kFont = "DejaVu Sans";
constexpr double kTitleFont = 16, kSubtitleFont = 12, kPanelTitleFont = 11, kAxisFont = 12;
constexpr double kMaxCell = 36, kMinCell = 3;
constexpr double kColorbarWidth = 18;
constexpr size_t kMaxLabelChars = 14;

void set_font(cairo_t* cr, double size, bool bold = false) {
  cairo_select_font_face(cr, kFont, CAIRO_FONT_SLANT_NORMAL,
                         bold ? CAIRO_FONT_WEIGHT_BOLD : CAIRO_FONT_WEIGHT_NORMAL);
  cairo_set_font_size(cr, size);
}

double text_width(cairo_t* cr, const std::string& s) {
  cairo_text_extents_t e;
  cairo_text_extents(cr, s.c_str(), &e);
  return e.x_advance;
}

// Keeps at most `max_chars` code points, marking the cut with an ellipsis.
std::string shorten(const std::string& s, size_t max_chars) {
  size_t chars = 0, i = 0;
  for (; i < s.size(); ++i) {
    if ((static_cast<unsigned char>(s[i]) & 0xC0) != 0x80) {
      if (chars == max_chars) return s.substr(0, i) + "\xE2\x80\xA6";
      ++chars;
    }
  }
  return s;
}

// Smallest of 1, 2, 5, 10, 20, 50, ... that is >= s: ticks land on round indices.
int nice_step(double s) {
  if (s <= 1) return 1;
  for (int base = 1;; base *= 10)
    for (int m : {1, 2, 5})
      if (m * base >= s) return m * base;
}

bool all_integers(const std::vector<std::string>& labels) {
  for (const auto& l : labels) {
    if (l.empty()) return false;
    for (size_t i = 0; i < l.size(); ++i)
      if (!std::isdigit(static_cast<unsigned char>(l[i])) && !(i == 0 && l[i] == '-')) return false;
  }
  return true;
}

std::string format_value(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3g", std::fabs(v) < 1e-12 ? 0.0 : v);
  return buf;
}

struct Layout {
  int64_t rows = 0, cols = 0;
  int grid_cols = 1, grid_rows = 1;
  double cell_w = 0, cell_h = 0, tick_font = 10;
  std::vector<std::string> row_labels, col_labels;
  int row_step = 1, col_step = 1;
  bool rotate_cols = false;
  double row_label_w = 0, col_label_h = 0, panel_title_h = 0;
  double panel_w = 0, panel_h = 0;
  double x0 = 0, y0 = 0;  // top-left of the panel grid
  double cbar_x = 0, cbar_y = 0, cbar_h = 0;
  double width = 0, height = 0;
  double limit = 1;
  bool any_missing = false;
};

Layout make_layout(const HeatmapFigure& f) {
  Layout L;
  L.rows = f.panels.front().rows;
  L.cols = f.panels.front().cols;
  const int n = static_cast<int>(f.panels.size());
  // Panel grid about 1.3x wider than tall.
  L.grid_cols = std::clamp(static_cast<int>(std::ceil(std::sqrt(1.3 * n * L.rows / L.cols))), 1, n);
  L.grid_rows = (n + L.grid_cols - 1) / L.grid_cols;

  const double budget_w = n == 1 ? 1000 : 1500, budget_h = n == 1 ? 800 : 1500;
  double cw = std::min(kMaxCell, budget_w / (L.grid_cols * L.cols));
  double ch = std::min(kMaxCell, budget_h / (L.grid_rows * L.rows));
  cw = std::min(cw, 2.5 * ch), ch = std::min(ch, 2.5 * cw);  // no extreme aspect ratios
  cw = std::max(kMinCell, std::floor(cw)), ch = std::max(kMinCell, std::floor(ch));
  L.cell_w = cw, L.cell_h = ch;
  L.tick_font = std::clamp(std::min(cw, ch) * 0.85, 8.0, 11.0);

  cairo_surface_t* scratch = cairo_image_surface_create(CAIRO_FORMAT_ARGB32, 1, 1);
  cairo_t* cr = cairo_create(scratch);
  set_font(cr, L.tick_font);
  double row_w = 0, col_w = 0;
  for (const auto& l : f.row_labels) {
    L.row_labels.push_back(shorten(display_token(l), kMaxLabelChars));
    row_w = std::max(row_w, text_width(cr, L.row_labels.back()));
  }
  for (const auto& l : f.col_labels) {
    L.col_labels.push_back(shorten(display_token(l), kMaxLabelChars));
    col_w = std::max(col_w, text_width(cr, L.col_labels.back()));
  }
  const double line = L.tick_font * 1.3;
  L.row_step = nice_step(line / ch);
  // Numeric columns stay horizontal and thin out; words (tokens, sites) turn vertical.
  L.rotate_cols = !all_integers(f.col_labels) || col_w + 6 > 3 * cw;
  L.col_step = L.rotate_cols ? nice_step(line / cw) : nice_step((col_w + 6) / cw);
  if (L.rotate_cols && !all_integers(f.col_labels))
    L.col_step = static_cast<int>(std::ceil(line / cw));
  L.row_label_w = row_w + 8;
  L.col_label_h = (L.rotate_cols ? col_w : L.tick_font) + 8;
  L.panel_title_h = n > 1 ? kPanelTitleFont + 8 : 0;
  L.panel_w = L.row_label_w + L.cols * cw + 18;
  L.panel_h = L.panel_title_h + L.rows * ch + L.col_label_h + 10;

  set_font(cr, kTitleFont, true);
  const double title_w = text_width(cr, f.title);
  set_font(cr, kSubtitleFont);
  const double subtitle_w = text_width(cr, f.subtitle);
  set_font(cr, L.tick_font);
  const double cbar_text_w = text_width(cr, "-0.000e-00") + 8;
  cairo_destroy(cr);
  cairo_surface_destroy(scratch);

  L.x0 = 30;  // room for the rotated row-axis title
  L.y0 = 62;
  const double grid_h = L.grid_rows * L.panel_h;
  L.cbar_x = L.x0 + L.grid_cols * L.panel_w + 6;
  L.cbar_y = L.y0 + L.panel_title_h;
  L.cbar_h = std::clamp(grid_h - L.panel_title_h - L.col_label_h - 10, 120.0, 420.0);
  L.width = std::ceil(
      std::max({L.cbar_x + kColorbarWidth + cbar_text_w + 28, title_w + 40, subtitle_w + 40}));
  L.height = std::ceil(std::max(L.y0 + grid_h + 28, L.cbar_y + L.cbar_h + 50));
  L.limit = color_limit(f);
  for (const auto& p : f.panels)
    for (float v : p.values) L.any_missing = L.any_missing || std::isnan(v);
  return L;
}

void fill(cairo_t* cr, const Rgb& c) { cairo_set_source_rgb(cr, c.r, c.g, c.b); }

void text_at(cairo_t* cr, double x, double y, const std::string& s) {
  cairo_move_to(cr, x, y);
  cairo_show_text(cr, s.c_str());
}

void draw_panel(cairo_t* cr, const Layout& L, const HeatmapPanel& p, double px, double py) {
  const double cw = L.cell_w, ch = L.cell_h;
  if (!p.title.empty()) {
    set_font(cr, kPanelTitleFont, true);
    cairo_set_source_rgb(cr, 0.1, 0.1, 0.1);
    text_at(cr, px, py - 6, shorten(display_token(p.title), 40));
  }
  cairo_set_antialias(cr, CAIRO_ANTIALIAS_NONE);  // crisp cell edges
  for (int64_t r = 0; r < L.rows; ++r)
    for (int64_t c = 0; c < L.cols; ++c) {
      fill(cr, diverging_color(p.values[r * L.cols + c] / L.limit));
      cairo_rectangle(cr, px + c * cw, py + r * ch, cw, ch);
      cairo_fill(cr);
    }
  cairo_set_antialias(cr, CAIRO_ANTIALIAS_DEFAULT);
  cairo_set_source_rgb(cr, 0.35, 0.35, 0.35);
  cairo_set_line_width(cr, 1);
  cairo_rectangle(cr, px - 0.5, py - 0.5, L.cols * cw + 1, L.rows * ch + 1);
  cairo_stroke(cr);

  set_font(cr, L.tick_font);
  cairo_set_source_rgb(cr, 0.15, 0.15, 0.15);
  for (int64_t r = 0; r < L.rows; r += L.row_step) {
    const std::string& s = L.row_labels[r];
    text_at(cr, px - 4 - text_width(cr, s), py + (r + 0.5) * ch + L.tick_font * 0.35, s);
  }
  const double label_top = py + L.rows * ch + 4;
  for (int64_t c = 0; c < L.cols; c += L.col_step) {
    const std::string& s = L.col_labels[c];
    const double xc = px + (c + 0.5) * cw;
    if (L.rotate_cols) {
      cairo_save(cr);
      cairo_translate(cr, xc + L.tick_font * 0.35, label_top);
      cairo_rotate(cr, -M_PI / 2);
      text_at(cr, -text_width(cr, s), 0, s);  // reads bottom-up, ends at the axis
      cairo_restore(cr);
    } else {
      text_at(cr, xc - text_width(cr, s) / 2, label_top + L.tick_font, s);
    }
  }
}

void draw_colorbar(cairo_t* cr, const Layout& L, const HeatmapFigure& f) {
  const double x = L.cbar_x, y = L.cbar_y, h = L.cbar_h;
  cairo_set_antialias(cr, CAIRO_ANTIALIAS_NONE);
  for (int i = 0; i < static_cast<int>(h); ++i) {
    const double t =
        (i + 0.5) / h;  // top to bottom: limit .. -limit, or limit .. 0 when sequential
    fill(cr, diverging_color(f.sequential ? 1.0 - t : 1.0 - 2.0 * (i + 0.5) / h));
    cairo_rectangle(cr, x, y + i, kColorbarWidth, 1);
    cairo_fill(cr);
  }
  cairo_set_antialias(cr, CAIRO_ANTIALIAS_DEFAULT);
  cairo_set_source_rgb(cr, 0.35, 0.35, 0.35);
  cairo_set_line_width(cr, 1);
  cairo_rectangle(cr, x - 0.5, y - 0.5, kColorbarWidth + 1, std::floor(h) + 1);
  cairo_stroke(cr);
  set_font(cr, L.tick_font);
  for (int k = 0; k <= 4; ++k) {
    const double v = L.limit * (f.sequential ? 1.0 - k / 4.0 : 1.0 - k / 2.0);
    const double ty = y + h * k / 4.0;
    cairo_set_source_rgb(cr, 0.15, 0.15, 0.15);
    cairo_move_to(cr, x + kColorbarWidth, ty);
    cairo_line_to(cr, x + kColorbarWidth + 4, ty);
    cairo_stroke(cr);
    text_at(cr, x + kColorbarWidth + 6, ty + L.tick_font * 0.35, format_value(v));
  }
  if (!f.colorbar_label.empty()) {
    set_font(cr, kAxisFont);
    cairo_set_source_rgb(cr, 0.1, 0.1, 0.1);
    text_at(cr, x, y + h + 20, shorten(valid_utf8(f.colorbar_label), 24));
  }
  if (L.any_missing) {
    fill(cr, missing_color());
    cairo_rectangle(cr, x, y + h + 30, 12, 12);
    cairo_fill(cr);
    cairo_set_source_rgb(cr, 0.15, 0.15, 0.15);
    set_font(cr, L.tick_font);
    text_at(cr, x + 16, y + h + 40, "not computed");
  }
}

void draw(cairo_t* cr, const Layout& L, const HeatmapFigure& f) {
  cairo_set_source_rgb(cr, 1, 1, 1);
  cairo_paint(cr);
  cairo_set_source_rgb(cr, 0, 0, 0);
  set_font(cr, kTitleFont, true);
  text_at(cr, 16, 26, valid_utf8(f.title));
  set_font(cr, kSubtitleFont);
  cairo_set_source_rgb(cr, 0.25, 0.25, 0.25);
  text_at(cr, 16, 46, valid_utf8(f.subtitle));

  for (size_t k = 0; k < f.panels.size(); ++k) {
    const double px = L.x0 + (k % L.grid_cols) * L.panel_w + L.row_label_w;
    const double py = L.y0 + (k / L.grid_cols) * L.panel_h + L.panel_title_h;
    draw_panel(cr, L, f.panels[k], px, py);
  }
  // Axis titles once for the whole grid.
  set_font(cr, kAxisFont);
  cairo_set_source_rgb(cr, 0.1, 0.1, 0.1);
  const double grid_w = L.grid_cols * L.panel_w, grid_h = L.grid_rows * L.panel_h;
  const std::string col_title = valid_utf8(f.col_axis), row_title = valid_utf8(f.row_axis);
  text_at(cr, L.x0 + grid_w / 2 - text_width(cr, col_title) / 2, L.y0 + grid_h + 14, col_title);
  cairo_save(cr);
  cairo_translate(cr, 18, L.y0 + grid_h / 2 + text_width(cr, row_title) / 2);
  cairo_rotate(cr, -M_PI / 2);
  text_at(cr, 0, 0, row_title);
  cairo_restore(cr);
  draw_colorbar(cr, L, f);
}

void check_surface(cairo_surface_t* s, const std::filesystem::path& path) {
  if (cairo_surface_status(s) != CAIRO_STATUS_SUCCESS)
    throw error_at(path.string(), "",
                   std::string("cairo: ") + cairo_status_to_string(cairo_surface_status(s)));
}

}  // namespace

double color_limit(const HeatmapFigure& figure) {
  if (figure.limit > 0) return figure.limit;
  double m = 0;
  for (const auto& p : figure.panels)
    for (float v : p.values)
      if (std::isfinite(v)) m = std::max(m, static_cast<double>(std::fabs(v)));
  if (!(m > 0)) return 1.0;
  // Round up to a value whose halves read well on the colour bar (0.979 -> 1, 3.3 -> 4).
  const double decade = std::pow(10.0, std::floor(std::log10(m)));
  for (double step : {1.0, 1.2, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0})
    if (step * decade >= m * (1 - 1e-9)) return step * decade;
  return m;
}

std::vector<std::filesystem::path> render_heatmap(const HeatmapFigure& f,
                                                  const std::filesystem::path& stem) {
  const std::string where = stem.string();
  if (f.panels.empty()) throw error_at(where, f.title, "a heatmap needs at least one panel");
  for (const auto& p : f.panels) {
    if (p.rows != f.panels.front().rows || p.cols != f.panels.front().cols)
      throw error_at(where, f.title, "panels of one figure must have the same shape");
    if (p.rows <= 0 || p.cols <= 0 || static_cast<int64_t>(p.values.size()) != p.rows * p.cols)
      throw error_at(where, f.title, "panel values do not match rows x cols");
  }
  if (static_cast<int64_t>(f.row_labels.size()) != f.panels.front().rows ||
      static_cast<int64_t>(f.col_labels.size()) != f.panels.front().cols)
    throw error_at(where, f.title, "one label per row and per column is needed");

  const Layout L = make_layout(f);
  const std::filesystem::path png = stem.string() + ".png", svg = stem.string() + ".svg";

  cairo_surface_t* image = cairo_image_surface_create(CAIRO_FORMAT_RGB24, static_cast<int>(L.width),
                                                      static_cast<int>(L.height));
  check_surface(image, png);
  cairo_t* cr = cairo_create(image);
  draw(cr, L, f);
  cairo_destroy(cr);
  const cairo_status_t st = cairo_surface_write_to_png(image, png.c_str());
  cairo_surface_destroy(image);
  if (st != CAIRO_STATUS_SUCCESS)
    throw error_at(png.string(), "",
                   std::string("cannot write PNG: ") + cairo_status_to_string(st));

  cairo_surface_t* vector = cairo_svg_surface_create(svg.c_str(), L.width, L.height);
  check_surface(vector, svg);
  cr = cairo_create(vector);
  draw(cr, L, f);
  cairo_destroy(cr);
  cairo_surface_finish(vector);
  const cairo_status_t vst = cairo_surface_status(vector);
  cairo_surface_destroy(vector);
  if (vst != CAIRO_STATUS_SUCCESS)
    throw error_at(svg.string(), "",
                   std::string("cannot write SVG: ") + cairo_status_to_string(vst));
  return {png, svg};
}

}  // namespace csweep::report
