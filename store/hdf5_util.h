#pragma once
// Small RAII and attribute helpers over the HDF5 C API, shared by the fragment writer and the
// reader. Internal to store/.
#include <hdf5.h>

#include <cstdint>
#include <string>
#include <vector>

namespace csweep::store::h5 {

// Owns one hid_t and closes it with the right H5?close.
class Handle {
 public:
  Handle() = default;
  Handle(hid_t id, herr_t (*closer)(hid_t)) : id_(id), closer_(closer) {}
  Handle(Handle&& o) noexcept : id_(o.id_), closer_(o.closer_) { o.id_ = -1; }
  Handle& operator=(Handle&& o) noexcept {
    reset();
    id_ = o.id_;
    closer_ = o.closer_;
    o.id_ = -1;
    return *this;
  }
  Handle(const Handle&) = delete;
  Handle& operator=(const Handle&) = delete;
  ~Handle() { reset(); }
  void reset() {
    if (id_ >= 0 && closer_) closer_(id_);
    id_ = -1;
  }
  hid_t get() const { return id_; }
  bool valid() const { return id_ >= 0; }
  operator hid_t() const { return id_; }

 private:
  hid_t id_ = -1;
  herr_t (*closer_)(hid_t) = nullptr;
};

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
