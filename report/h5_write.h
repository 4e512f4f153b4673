#pragma once
// Write helpers over the HDF5 C API for sweep.h5 (ids owned by store/hdf5_handle.h's Handle).
// Every failure throws csweep::Error "FILE: OBJECT: reason" (HDF5's own error stack printing is
// turned off).
#include <cstdint>
#include <string>
#include <vector>

#include <hdf5.h>

#include "store/hdf5_handle.h"

namespace csweep::report::h5 {

using Handle = store::h5::Handle;

// The file all errors are reported against; one writer per process at a time.
class Writer {
 public:
  explicit Writer(std::string file) : file_(std::move(file)) {}
  const std::string& file() const { return file_; }

  void check(herr_t status, const std::string& object, const std::string& what) const;
  Handle create_file(const std::string& path) const;
  Handle group(hid_t parent, const std::string& name) const;

  using Dims = std::vector<hsize_t>;  // empty = a scalar
  Handle floats(hid_t loc, const std::string& name, const Dims& dims, const float* data) const;
  Handle doubles(hid_t loc, const std::string& name, const Dims& dims, const double* data) const;
  Handle int64s(hid_t loc, const std::string& name, const Dims& dims, const int64_t* data) const;
  Handle int32s(hid_t loc, const std::string& name, const Dims& dims, const int32_t* data) const;
  Handle uint8s(hid_t loc, const std::string& name, const Dims& dims, const uint8_t* data) const;
  Handle strings(hid_t loc, const std::string& name, const Dims& dims,
                 const std::vector<std::string>& data) const;  // variable-length UTF-8

  void attr(hid_t obj, const std::string& name, const std::string& value) const;
  void attr(hid_t obj, const std::string& name, const std::vector<std::string>& values) const;
  void attr(hid_t obj, const std::string& name, double value) const;
  void attr(hid_t obj, const std::string& name, int64_t value) const;

  // Makes `scale` a dimension scale named `name` and attaches it to dim `dim` of `data`,
  // whose label becomes `name` too (h5py: ds.dims[dim].label, ds.dims[dim][0]).
  void make_scale(hid_t scale, const std::string& name) const;
  void attach(hid_t data, hid_t scale, unsigned dim, const std::string& label) const;

 private:
  Handle dataset(hid_t loc, const std::string& name, hid_t file_type, hid_t mem_type,
                 const Dims& dims, const void* data) const;
  std::string file_;
};

}  // namespace csweep::report::h5
