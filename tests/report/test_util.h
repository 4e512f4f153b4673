#pragma once
// Helpers shared by the report tests: a fresh temporary directory, running a command and
// capturing its output, the example job, reading a PNG back with cairo.
#include <array>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include <cairo.h>
#include <unistd.h>

#include "tests/run_command.h"
#include "tests/test_paths.h"

namespace csweep::report::testing {

inline std::filesystem::path fresh_dir(const std::string& name) {
  const auto dir = std::filesystem::temp_directory_path() /
                   ("csweep-report-" + name + "-" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

using csweep::testing::CommandResult;
using csweep::testing::run_command;

inline std::string read_text(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// The example activation-patching job's text with its model path made absolute, so the job
// file may be written anywhere.
inline std::string example_job_text() {
  std::string yaml = read_text(csweep::testing::source_path("examples/activation_patching.yaml"));
  const std::string rel = "../../shared/fixtures/gpt2-tiny";
  const auto at = yaml.find(rel);
  if (at == std::string::npos)
    throw std::runtime_error("examples/activation_patching.yaml: no " + rel + " model path");
  return yaml.replace(at, rel.size(), csweep::testing::shared_fixture("gpt2-tiny").string());
}

struct Image {
  int width = 0, height = 0;
  std::vector<uint32_t> pixels;  // 0x00RRGGBB
  uint32_t at(int x, int y) const { return pixels[static_cast<size_t>(y) * width + x] & 0xFFFFFF; }
};

inline Image read_png(const std::filesystem::path& p) {
  Image img;
  cairo_surface_t* s = cairo_image_surface_create_from_png(p.c_str());
  if (cairo_surface_status(s) == CAIRO_STATUS_SUCCESS) {
    cairo_surface_flush(s);
    img.width = cairo_image_surface_get_width(s);
    img.height = cairo_image_surface_get_height(s);
    const int stride = cairo_image_surface_get_stride(s);
    const unsigned char* data = cairo_image_surface_get_data(s);
    for (int y = 0; y < img.height; ++y)
      for (int x = 0; x < img.width; ++x)
        img.pixels.push_back(*reinterpret_cast<const uint32_t*>(data + y * stride + 4 * x));
  }
  cairo_surface_destroy(s);
  return img;
}

}  // namespace csweep::report::testing
