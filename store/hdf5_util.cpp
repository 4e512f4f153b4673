#include "store/hdf5_util.h"

namespace csweep::store::h5 {

namespace {
Handle vlen_string_type() {
  Handle t = type(H5Tcopy(H5T_C_S1));
  H5Tset_size(t, H5T_VARIABLE);
  H5Tset_cset(t, H5T_CSET_UTF8);
  return t;
}
}  // namespace

void write_string_attr(hid_t obj, const std::string& name, const std::string& value) {
  Handle t = vlen_string_type();
  Handle s = space(H5Screate(H5S_SCALAR));
  Handle a = attr(H5Acreate2(obj, name.c_str(), t, s, H5P_DEFAULT, H5P_DEFAULT));
  const char* p = value.c_str();
  H5Awrite(a, t, &p);
}

void write_strings_attr(hid_t obj, const std::string& name,
                        const std::vector<std::string>& values) {
  Handle t = vlen_string_type();
  hsize_t n = values.size();
  Handle s = space(H5Screate_simple(1, &n, nullptr));
  Handle a = attr(H5Acreate2(obj, name.c_str(), t, s, H5P_DEFAULT, H5P_DEFAULT));
  std::vector<const char*> ptrs;
  for (const auto& v : values) ptrs.push_back(v.c_str());
  H5Awrite(a, t, ptrs.data());
}

void write_int64s_attr(hid_t obj, const std::string& name, const std::vector<int64_t>& values) {
  hsize_t n = values.size();
  Handle s = space(H5Screate_simple(1, &n, nullptr));
  Handle a = attr(H5Acreate2(obj, name.c_str(), H5T_STD_I64LE, s, H5P_DEFAULT, H5P_DEFAULT));
  H5Awrite(a, H5T_NATIVE_INT64, values.data());
}

std::string read_string_attr(hid_t obj, const std::string& name) {
  if (H5Aexists(obj, name.c_str()) <= 0) return {};
  Handle a = attr(H5Aopen(obj, name.c_str(), H5P_DEFAULT));
  if (!a.valid()) return {};
  Handle ft = type(H5Aget_type(a));
  if (H5Tget_class(ft) != H5T_STRING || H5Tis_variable_str(ft) <= 0) return {};
  // One string is read into one pointer: an attribute holding several (a damaged or foreign
  // file) would overrun it.
  Handle s = space(H5Aget_space(a));
  if (H5Sget_simple_extent_npoints(s) != 1) return {};
  Handle t = vlen_string_type();
  char* p = nullptr;
  if (H5Aread(a, t, &p) < 0 || p == nullptr) return {};
  std::string out(p);
  H5free_memory(p);
  return out;
}

std::vector<int64_t> read_int64s_attr(hid_t obj, const std::string& name) {
  if (H5Aexists(obj, name.c_str()) <= 0) return {};
  Handle a = attr(H5Aopen(obj, name.c_str(), H5P_DEFAULT));
  Handle s = space(H5Aget_space(a));
  hssize_t n = H5Sget_simple_extent_npoints(s);
  if (n < 0) return {};
  std::vector<int64_t> out(static_cast<size_t>(n));
  if (n > 0 && H5Aread(a, H5T_NATIVE_INT64, out.data()) < 0) return {};
  return out;
}

std::string safe_name(const std::string& name) {
  std::string out = name;
  for (char& c : out)
    if (c == '/') c = '_';
  if (out.empty() || out == "." || out == "..") out = "_" + out;
  return out;
}

void silence_errors() { H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr); }

}  // namespace csweep::store::h5
