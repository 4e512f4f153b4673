#pragma once
// Attribute helpers over the HDF5 C API, shared by the fragment writer and the reader, and
// the typed makers of Handle (hdf5_handle.h). Internal to store/.
#include <hdf5.h>

#include <cstdint>
#include <string>
#include <vector>

#include "store/hdf5_handle.h"

namespace csweep::store::h5 {

inline Handle file(hid_t id) { return Handle(id, H5Fclose); }
inline Handle group(hid_t id) { return Handle(id, H5Gclose); }
inline Handle dataset(hid_t id) { return Handle(id, H5Dclose); }
inline Handle space(hid_t id) { return Handle(id, H5Sclose); }
inline Handle plist(hid_t id) { return Handle(id, H5Pclose); }
inline Handle type(hid_t id) { return Handle(id, H5Tclose); }
inline Handle attr(hid_t id) { return Handle(id, H5Aclose); }

void write_string_attr(hid_t obj, const std::string& name, const std::string& value);
void write_strings_attr(hid_t obj, const std::string& name, const std::vector<std::string>& values);
void write_int64s_attr(hid_t obj, const std::string& name, const std::vector<int64_t>& values);
// Empty / {} when missing or of another type.
std::string read_string_attr(hid_t obj, const std::string& name);
std::vector<int64_t> read_int64s_attr(hid_t obj, const std::string& name);

// A name usable as one HDF5 path component ('/' and '.'-only names replaced).
std::string safe_name(const std::string& name);

// Silences HDF5's automatic error-stack printing in this process (we report errors ourselves).
void silence_errors();

}  // namespace csweep::store::h5
