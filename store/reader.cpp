#include "store/reader.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>
#include <limits>

#include "common/error.h"
#include "common/log.h"
#include "store/fragment_writer.h"
#include "store/hdf5_util.h"
#include "store/store.h"

namespace fs = std::filesystem;

namespace csweep::store {

namespace {

using ShardVisitor = std::function<void(const ShardInfo&, const float* values)>;

std::vector<fs::path> list_fragments(const fs::path& dir) {
  std::vector<fs::path> out;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir / "fragments", ec))
    if (e.is_regular_file() && e.path().extension() == ".h5") out.push_back(e.path());
  std::sort(out.begin(), out.end());
  return out;
}

// The extents a fragment's datasets claim are input: checked against what the file can hold
// before anything is allocated for them. The writer never filters (compresses), so every
// element written occupies file bytes; only the last extension a kill cut short (one shard's
// values, one index row) may be unwritten.
struct Extent {
  hsize_t rows = 0;    // index rows ([rows, 7])
  hsize_t values = 0;  // float32 values
};

bool unfiltered(hid_t ds) {
  h5::Handle props = h5::plist(H5Dget_create_plist(ds));
  return props.valid() && H5Pget_nfilters(props) == 0;
}

// Empty when the analysis group `g` can be read; otherwise why not ("/NAME/values claims ...").
std::string check_extent(hid_t rows_ds, hid_t values_ds, const std::string& gname,
                         uintmax_t file_bytes, int64_t max_shard_cells, Extent* out) {
  h5::Handle s = h5::space(H5Dget_space(rows_ds));
  h5::Handle vs = h5::space(H5Dget_space(values_ds));
  if (H5Sget_simple_extent_ndims(s) != 2 || H5Sget_simple_extent_ndims(vs) != 1)
    return "/" + gname + ": shards or values has the wrong rank";
  hsize_t rdims[2] = {0, 0};
  H5Sget_simple_extent_dims(s, rdims, nullptr);
  H5Sget_simple_extent_dims(vs, &out->values, nullptr);
  out->rows = rdims[0];
  if (rdims[1] != kShardColumns)
    return "/" + gname + "/shards has " + std::to_string(rdims[1]) + " columns, not 7";
  if (!unfiltered(rows_ds) || !unfiltered(values_ds))
    return "/" + gname + ": filtered datasets (csweep writes none)";
  const uintmax_t row_room = file_bytes / (kShardColumns * sizeof(int64_t)) + 1;
  const uintmax_t value_room = file_bytes / sizeof(float) + static_cast<uintmax_t>(max_shard_cells);
  if (out->rows > row_room)
    return "/" + gname + "/shards claims " + std::to_string(out->rows) +
           " rows, more than the file's " + std::to_string(file_bytes) + " bytes can hold";
  if (out->values > value_room)
    return "/" + gname + "/values claims " + std::to_string(out->values) +
           " values, more than the file's " + std::to_string(file_bytes) + " bytes can hold";
  return "";
}

int64_t max_shard_cells(const Layout& layout) {
  int64_t m = 0;
  for (const auto& s : layout.shards) m = std::max(m, s.cells());
  return m;
}

// Calls `visit` for every complete shard copy in `file`, in file order. Returns false (and
// visits nothing) when the file cannot be opened, belongs to another spec, or claims more data
// than it holds; damaged rows are skipped silently (they are the expected trace of a kill
// between a write and its flush).
bool visit_fragment(const fs::path& file, const Layout& layout, const std::string& spec_hash,
                    const ShardVisitor& visit, FragmentInfo* info = nullptr) {
  h5::Handle f = h5::file(H5Fopen(file.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT));
  if (!f.valid()) return false;
  if (info) {
    auto one = [&](const char* name) {
      auto v = h5::read_int64s_attr(f, name);
      return v.empty() ? int64_t{-1} : v[0];
    };
    info->host = h5::read_string_attr(f, "host");
    info->created = h5::read_string_attr(f, "created");
    info->pid = one("pid");
    info->rank = one("rank");
    info->slice = h5::read_string_attr(f, "slice");
    info->slurm_job_id = h5::read_string_attr(f, "slurm_job_id");
    info->slurm_array_job_id = h5::read_string_attr(f, "slurm_array_job_id");
    info->slurm_array_task_id = h5::read_string_attr(f, "slurm_array_task_id");
  }
  const std::string hash = h5::read_string_attr(f, "spec_hash");
  if (hash != spec_hash) {
    log::get("store")->warn("{}: spec hash {} differs from the store's; ignored", file.string(),
                            hash);
    return false;
  }
  std::error_code ec;
  const uintmax_t file_bytes = fs::file_size(file, ec);
  if (ec) return false;
  const int64_t shard_cells = max_shard_cells(layout);
  struct Group {
    uint32_t analysis;
    h5::Handle rows_ds, values_ds;
    Extent extent;
  };
  std::vector<Group> groups;
  for (uint32_t ai = 0; ai < layout.analyses.size(); ++ai) {
    const std::string gname = h5::safe_name(layout.analyses[ai].name);
    if (H5Lexists(f, gname.c_str(), H5P_DEFAULT) <= 0) continue;
    h5::Handle g = h5::group(H5Gopen2(f, gname.c_str(), H5P_DEFAULT));
    if (!g.valid()) continue;
    Group gr{ai,
             h5::dataset(H5Dopen2(g, "shards", H5P_DEFAULT)),
             h5::dataset(H5Dopen2(g, "values", H5P_DEFAULT)),
             {}};
    if (!gr.rows_ds.valid() || !gr.values_ds.valid()) continue;
    const std::string why =
        check_extent(gr.rows_ds, gr.values_ds, gname, file_bytes, shard_cells, &gr.extent);
    if (!why.empty()) {
      log::get("store")->warn("{}: {}; skipped as damaged", file.string(), why);
      return false;
    }
    groups.push_back(std::move(gr));
  }
  for (const Group& gr : groups) {
    const hsize_t n_rows = gr.extent.rows, vdim = gr.extent.values;
    if (n_rows == 0) continue;
    std::vector<int64_t> rows(n_rows * kShardColumns);
    if (H5Dread(gr.rows_ds, H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, rows.data()) < 0)
      continue;
    std::vector<float> values(vdim);
    if (vdim > 0 &&
        H5Dread(gr.values_ds, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, values.data()) < 0)
      continue;
    for (hsize_t r = 0; r < n_rows; ++r) {
      const int64_t* row = &rows[r * kShardColumns];
      const int64_t id = row[0], prompt = row[1], begin = row[2], end = row[3], offset = row[4],
                    checksum = row[5];
      if (row[6] != kShardRowMagic) continue;
      if (id < 0 || id >= static_cast<int64_t>(layout.shards.size())) continue;
      const ShardInfo& s = layout.shards[id];
      if (s.analysis != gr.analysis || s.prompt != prompt || s.cell_begin != begin ||
          s.cell_end != end)
        continue;
      if (offset < 0 || offset + s.cells() > static_cast<int64_t>(vdim)) continue;
      if (shard_checksum(values.data() + offset, s.cells()) != checksum) continue;
      if (info) ++info->shards;
      visit(s, values.data() + offset);
    }
  }
  return true;
}

}  // namespace

nlohmann::json FragmentInfo::to_json() const {
  nlohmann::json j{{"file", file.filename().string()},
                   {"readable", readable},
                   {"shards", shards},
                   {"first_copies", first_copies}};
  if (!readable) return j;
  j["host"] = host;
  j["pid"] = pid;
  j["rank"] = rank;
  j["created"] = created;
  if (!slice.empty()) j["slice"] = slice;
  nlohmann::json slurm = nlohmann::json::object();
  if (!slurm_job_id.empty()) slurm["job_id"] = slurm_job_id;
  if (!slurm_array_job_id.empty()) slurm["array_job_id"] = slurm_array_job_id;
  if (!slurm_array_task_id.empty()) slurm["array_task_id"] = slurm_array_task_id;
  if (!slurm.empty()) j["slurm"] = slurm;
  return j;
}

StoreContents read_store(const fs::path& dir) {
  disable_hdf5_file_locking();
  h5::silence_errors();
  Store store = Store::open_read_only(dir);
  StoreContents c;
  c.dir = dir;
  c.spec_hash = store.spec_hash();
  c.spec_yaml = store.spec_yaml();
  c.provenance = store.provenance();
  c.layout = store.layout();
  const int64_t n_prompts = static_cast<int64_t>(c.layout.prompt_ids.size());
  for (const auto& a : c.layout.analyses) {
    AnalysisResults r;
    r.info = a;
    r.n_prompts = n_prompts;
    r.cells = a.cells();
    r.values.assign(n_prompts * r.cells, std::numeric_limits<float>::quiet_NaN());
    r.done.assign(n_prompts * r.cells, 0);
    c.analyses.push_back(std::move(r));
  }
  c.shard_done.assign(c.layout.shards.size(), 0);
  std::vector<std::string> first_file(c.layout.shards.size());
  for (const auto& file : list_fragments(dir)) {
    FragmentInfo info;
    info.file = file;
    bool ok = visit_fragment(
        file, c.layout, c.spec_hash,
        [&](const ShardInfo& s, const float* v) {
          AnalysisResults& r = c.analyses[s.analysis];
          float* dst = r.values.data() + s.prompt * r.cells + s.cell_begin;
          if (!c.shard_done[s.id]) {
            std::memcpy(dst, v, s.cells() * sizeof(float));
            std::fill(r.done.begin() + s.prompt * r.cells + s.cell_begin,
                      r.done.begin() + s.prompt * r.cells + s.cell_end, 1);
            c.shard_done[s.id] = 1;
            first_file[s.id] = file.filename().string();
            ++c.shards_done;
            ++info.first_copies;
          } else {
            ++c.duplicate_shards;
            if (std::memcmp(dst, v, s.cells() * sizeof(float)) != 0)
              c.conflicts.push_back(file.string() + ": shard " + std::to_string(s.id) +
                                    ": differs from the copy in " + first_file[s.id]);
          }
        },
        &info);
    info.readable = ok;
    (ok ? c.fragments : c.unreadable).push_back(file);
    c.writers.push_back(std::move(info));
  }
  return c;
}

DoneShards scan_done_shards(const fs::path& dir, const Layout& layout,
                            const std::string& spec_hash) {
  disable_hdf5_file_locking();
  h5::silence_errors();
  DoneShards d;
  d.done.assign(layout.shards.size(), 0);
  for (const auto& file : list_fragments(dir)) {
    bool ok = visit_fragment(file, layout, spec_hash, [&](const ShardInfo& s, const float*) {
      if (!d.done[s.id]) {
        d.done[s.id] = 1;
        ++d.count;
      }
    });
    if (!ok) d.unreadable.push_back(file);
  }
  return d;
}

}  // namespace csweep::store
