#include "report/h5_write.h"

#include <hdf5_hl.h>

#include "common/error.h"
#include "report/text.h"

namespace csweep::report::h5 {
namespace {

Handle utf8_string_type() {
  hid_t t = H5Tcopy(H5T_C_S1);
  H5Tset_size(t, H5T_VARIABLE);
  H5Tset_cset(t, H5T_CSET_UTF8);
  return Handle(t, H5Tclose);
}

hsize_t count(const Writer::Dims& dims) {
  hsize_t n = 1;
  for (hsize_t d : dims) n *= d;
  return n;
}

}  // namespace

void Writer::check(herr_t status, const std::string& object, const std::string& what) const {
  if (status < 0) throw error_at(file_, object, "HDF5 failed to " + what);
}

Handle Writer::create_file(const std::string& path) const {
  H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
  hid_t f = H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  check(f, "", "create the file (" + path + ")");
  return Handle(f, H5Fclose);
}

Handle Writer::group(hid_t parent, const std::string& name) const {
  hid_t g = H5Gcreate2(parent, name.c_str(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  check(g, name, "create the group");
  return Handle(g, H5Gclose);
}

Handle Writer::dataset(hid_t loc, const std::string& name, hid_t file_type, hid_t mem_type,
                       const Dims& dims, const void* data) const {
  Handle space(dims.empty() ? H5Screate(H5S_SCALAR)
                            : H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr),
               H5Sclose);
  check(space, name, "create a dataspace");
  hid_t d = H5Dcreate2(loc, name.c_str(), file_type, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  check(d, name, "create the dataset");
  Handle ds(d, H5Dclose);
  if (count(dims) > 0)
    check(H5Dwrite(ds, mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data), name, "write the dataset");
  return ds;
}

Handle Writer::floats(hid_t loc, const std::string& name, const Dims& dims,
                      const float* data) const {
  return dataset(loc, name, H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, dims, data);
}
Handle Writer::doubles(hid_t loc, const std::string& name, const Dims& dims,
                       const double* data) const {
  return dataset(loc, name, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, dims, data);
}
Handle Writer::int64s(hid_t loc, const std::string& name, const Dims& dims,
                      const int64_t* data) const {
  return dataset(loc, name, H5T_STD_I64LE, H5T_NATIVE_INT64, dims, data);
}
Handle Writer::int32s(hid_t loc, const std::string& name, const Dims& dims,
                      const int32_t* data) const {
  return dataset(loc, name, H5T_STD_I32LE, H5T_NATIVE_INT32, dims, data);
}
Handle Writer::uint8s(hid_t loc, const std::string& name, const Dims& dims,
                      const uint8_t* data) const {
  return dataset(loc, name, H5T_STD_U8LE, H5T_NATIVE_UINT8, dims, data);
}

Handle Writer::strings(hid_t loc, const std::string& name, const Dims& dims,
                       const std::vector<std::string>& data) const {
  if (data.size() != count(dims))
    throw error_at(file_, name, "string count does not match its shape");
  std::vector<std::string> clean;
  clean.reserve(data.size());
  for (const auto& s : data) clean.push_back(valid_utf8(s));
  std::vector<const char*> ptrs;
  for (const auto& s : clean) ptrs.push_back(s.c_str());
  Handle type = utf8_string_type();
  return dataset(loc, name, type, type, dims, ptrs.data());
}

void Writer::attr(hid_t obj, const std::string& name, const std::string& value) const {
  Handle type = utf8_string_type();
  Handle space(H5Screate(H5S_SCALAR), H5Sclose);
  Handle a(H5Acreate2(obj, name.c_str(), type, space, H5P_DEFAULT, H5P_DEFAULT), H5Aclose);
  check(a, name, "create the attribute");
  const std::string clean = valid_utf8(value);
  const char* p = clean.c_str();
  check(H5Awrite(a, type, &p), name, "write the attribute");
}

void Writer::attr(hid_t obj, const std::string& name,
                  const std::vector<std::string>& values) const {
  Handle type = utf8_string_type();
  const hsize_t n = values.size();
  Handle space(H5Screate_simple(1, &n, nullptr), H5Sclose);
  Handle a(H5Acreate2(obj, name.c_str(), type, space, H5P_DEFAULT, H5P_DEFAULT), H5Aclose);
  check(a, name, "create the attribute");
  std::vector<std::string> clean;
  for (const auto& s : values) clean.push_back(valid_utf8(s));
  std::vector<const char*> ptrs;
  for (const auto& s : clean) ptrs.push_back(s.c_str());
  if (n > 0) check(H5Awrite(a, type, ptrs.data()), name, "write the attribute");
}

void Writer::attr(hid_t obj, const std::string& name, double value) const {
  Handle space(H5Screate(H5S_SCALAR), H5Sclose);
  Handle a(H5Acreate2(obj, name.c_str(), H5T_IEEE_F64LE, space, H5P_DEFAULT, H5P_DEFAULT),
           H5Aclose);
  check(a, name, "create the attribute");
  check(H5Awrite(a, H5T_NATIVE_DOUBLE, &value), name, "write the attribute");
}

void Writer::attr(hid_t obj, const std::string& name, int64_t value) const {
  Handle space(H5Screate(H5S_SCALAR), H5Sclose);
  Handle a(H5Acreate2(obj, name.c_str(), H5T_STD_I64LE, space, H5P_DEFAULT, H5P_DEFAULT), H5Aclose);
  check(a, name, "create the attribute");
  check(H5Awrite(a, H5T_NATIVE_INT64, &value), name, "write the attribute");
}

void Writer::make_scale(hid_t scale, const std::string& name) const {
  check(H5DSset_scale(scale, name.c_str()), name, "make a dimension scale");
}

void Writer::attach(hid_t data, hid_t scale, unsigned dim, const std::string& label) const {
  check(H5DSattach_scale(data, scale, dim), label, "attach the dimension scale");
  check(H5DSset_label(data, dim, label.c_str()), label, "label the dimension");
}

}  // namespace csweep::report::h5
