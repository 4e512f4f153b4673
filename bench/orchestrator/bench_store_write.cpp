// Store write throughput: one FragmentWriter appending shards (each made durable with
// H5Fflush before the next, as in a sweep).
//   bench_store_write [N_SHARDS] [CELLS_PER_SHARD] [STORE_DIR]
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>

#include "store/fragment_writer.h"
#include "store/reader.h"
#include "store/store.h"

using namespace csweep::store;

int main(int argc, char** argv) {
  const int64_t n = argc > 1 ? std::stoll(argv[1]) : 5000;
  const int64_t cells = argc > 2 ? std::stoll(argv[2]) : 32;
  const std::filesystem::path dir = argc > 3 ? argv[3] : "/tmp/csweep-bench-store";
  Layout layout;
  layout.analyses = {{"a", "synthetic", {{"cell", n * cells, {}}}}};
  layout.prompt_ids = {"p"};
  for (int64_t i = 0; i < n; ++i)
    layout.shards.push_back({static_cast<uint32_t>(i), 0, 0, i * cells, (i + 1) * cells});
  std::filesystem::remove_all(dir);
  auto store = Store::open_for_run(dir, {"bench", "bench", layout}, false);
  std::vector<float> values(cells, 0.5f);
  const auto t0 = std::chrono::steady_clock::now();
  {
    FragmentWriter w(dir, layout, "bench", {0, ""});
    for (const auto& s : layout.shards) w.write(s, values);
  }
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const auto t1 = std::chrono::steady_clock::now();
  auto contents = read_store(dir);
  const double r = std::chrono::duration<double>(std::chrono::steady_clock::now() - t1).count();
  std::printf(
      "store write: %lld shards x %lld cells in %.3f s: %.0f shards/s, %.0f results/s; read+verify "
      "%.3f s (%lld done)\n",
      static_cast<long long>(n), static_cast<long long>(cells), s, n / s, n * cells / s, r,
      static_cast<long long>(contents.shards_done));
  return 0;
}
