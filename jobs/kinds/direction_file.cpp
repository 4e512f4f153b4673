#include "jobs/kinds/direction_file.h"

#include <bit>
#include <cmath>
#include <cstring>
#include <fstream>
#include <iterator>

#include "common/error.h"
#include "jobs/diagnostics.h"
#include "model/safetensors.h"

namespace csweep::jobs {
namespace {

float half_to_float(uint16_t h) {
  const int exponent = (h >> 10) & 0x1f, mantissa = h & 0x3ff;
  const float sign = (h & 0x8000) ? -1.0f : 1.0f;
  if (exponent == 0) return sign * std::ldexp(static_cast<float>(mantissa), -24);
  if (exponent == 31) return mantissa ? NAN : sign * INFINITY;
  return sign * std::ldexp(static_cast<float>(mantissa + 1024), exponent - 25);
}

// `n` little-endian elements of `dtype` at `data` as floats; false for a dtype we do not read.
bool to_floats(model::DType dtype, const std::byte* data, int64_t n, std::vector<float>* out) {
  out->resize(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    float& v = (*out)[static_cast<size_t>(i)];
    if (dtype == model::DType::F32) {
      std::memcpy(&v, data + 4 * i, 4);
    } else if (dtype == model::DType::F64) {
      double d;
      std::memcpy(&d, data + 8 * i, 8);
      v = static_cast<float>(d);
    } else if (dtype == model::DType::BF16 || dtype == model::DType::F16) {
      uint16_t h;
      std::memcpy(&h, data + 2 * i, 2);
      v = dtype == model::DType::F16 ? half_to_float(h)
                                     : std::bit_cast<float>(static_cast<uint32_t>(h) << 16);
    } else {
      return false;
    }
  }
  return true;
}

DirectionValues from_safetensors(const std::filesystem::path& path, const std::string& tensor) {
  std::shared_ptr<model::SafetensorsFile> file;
  try {
    file = model::SafetensorsFile::open(path);
  } catch (const Error& e) {
    throw DirectionFileError{"file", e.what()};
  }
  std::vector<std::string> names;
  for (const auto& t : file->tensors()) names.push_back(t.name);
  const model::TensorEntry* entry = nullptr;
  if (tensor.empty() && names.size() == 1) {
    entry = &file->tensors().front();
  } else if (tensor.empty()) {
    throw DirectionFileError{
        "tensor", path.string() + " holds " + std::to_string(names.size()) + " tensors: name one"};
  } else if (!(entry = file->find(tensor))) {
    throw DirectionFileError{
        "tensor", "no tensor \"" + tensor + "\" in " + path.string() + did_you_mean(tensor, names)};
  }
  DirectionValues out{entry->shape, {}};
  if (!to_floats(entry->dtype, entry->data, entry->numel(), &out.values))
    throw DirectionFileError{"tensor", "tensor \"" + entry->name + "\" is " +
                                           model::dtype_name(entry->dtype) +
                                           ", not a floating-point type"};
  return out;
}

// The value of `key` in a .npy header's Python dict literal ("'descr': '<f4', ...").
std::string header_value(const std::string& header, const std::string& key) {
  const size_t at = header.find("'" + key + "'");
  if (at == std::string::npos) return "";
  size_t begin = header.find(':', at);
  if (begin == std::string::npos) return "";
  begin = header.find_first_not_of(' ', begin + 1);
  const size_t end = header[begin] == '(' ? header.find(')', begin) + 1 : header.find(',', begin);
  return header.substr(begin, end - begin);
}

DirectionValues from_npy(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto fail = [&](const std::string& why) {
    return DirectionFileError{"file", path.string() + ": " + why};
  };
  if (bytes.size() < 10 || bytes.compare(0, 6, "\x93NUMPY") != 0) throw fail("not a .npy file");
  const bool v1 = bytes[6] == 1;
  size_t header_len = static_cast<uint8_t>(bytes[8]) | static_cast<uint8_t>(bytes[9]) << 8;
  if (!v1 && bytes.size() >= 12)
    header_len |= static_cast<size_t>(static_cast<uint8_t>(bytes[10])) << 16 |
                  static_cast<size_t>(static_cast<uint8_t>(bytes[11])) << 24;
  const size_t start = (v1 ? 10 : 12) + header_len;
  if (start > bytes.size()) throw fail("truncated header");
  const std::string header = bytes.substr(v1 ? 10 : 12, header_len);
  const std::string descr = header_value(header, "descr");
  model::DType dtype;
  if (descr == "'<f4'")
    dtype = model::DType::F32;
  else if (descr == "'<f8'")
    dtype = model::DType::F64;
  else if (descr == "'<f2'")
    dtype = model::DType::F16;
  else
    throw fail("dtype " + descr + " is not little-endian float16, float32 or float64");
  DirectionValues out;
  const std::string shape = header_value(header, "shape");
  for (size_t i = 1; i < shape.size();) {
    const size_t j = shape.find_first_of(",)", i);
    const std::string digits = shape.substr(i, j - i);
    if (digits.find_first_not_of(' ') != std::string::npos) out.shape.push_back(std::stoll(digits));
    i = j + 1;
  }
  if (out.shape.size() > 1 && header_value(header, "fortran_order") == "True")
    throw fail("Fortran order is not read (save with np.ascontiguousarray)");
  int64_t n = 1;
  for (int64_t d : out.shape) n *= d;
  if (start + static_cast<size_t>(n) * model::dtype_size(dtype) > bytes.size())
    throw fail("the data is shorter than its shape " + model::format_shape(out.shape));
  to_floats(dtype, reinterpret_cast<const std::byte*>(bytes.data() + start), n, &out.values);
  return out;
}

}  // namespace

DirectionValues read_direction_file(const std::filesystem::path& path, const std::string& tensor) {
  if (!std::filesystem::is_regular_file(path))
    throw DirectionFileError{"file", path.string() + ": no such file"};
  if (path.extension() == ".npy") {
    if (!tensor.empty())
      throw DirectionFileError{"tensor", "a .npy file holds one array: name no tensor"};
    return from_npy(path);
  }
  if (path.extension() == ".safetensors") return from_safetensors(path, tensor);
  throw DirectionFileError{"file", path.string() + ": expected a .safetensors or .npy file"};
}

}  // namespace csweep::jobs
