#include "model/safetensors.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <limits>
#include <set>

#include <nlohmann/json.hpp>

#include "common/error.h"
#include "common/log.h"

namespace csweep::model {

namespace {

// The reference implementation refuses headers above 100 MB; a header that large is a
// corrupt length field, not a real checkpoint (GPT-2-XL's header is ~40 kB).
constexpr uint64_t kMaxHeaderBytes = 100'000'000;

struct DTypeInfo {
  DType dtype;
  const char* name;
  size_t size;
};

constexpr DTypeInfo kDTypes[] = {
    {DType::F64, "F64", 8},   {DType::F32, "F32", 4}, {DType::F16, "F16", 2},
    {DType::BF16, "BF16", 2}, {DType::I64, "I64", 8}, {DType::I32, "I32", 4},
    {DType::I16, "I16", 2},   {DType::I8, "I8", 1},   {DType::U8, "U8", 1},
    {DType::BOOL, "BOOL", 1},
};

const DTypeInfo& info(DType dtype) {
  for (const auto& i : kDTypes)
    if (i.dtype == dtype) return i;
  throw Error("internal: unknown DType");
}

std::string supported_dtypes() {
  std::string s;
  for (const auto& i : kDTypes) s += (s.empty() ? "" : " ") + std::string(i.name);
  return s;
}

std::string span(uint64_t begin, uint64_t end) {
  return "[" + std::to_string(begin) + ", " + std::to_string(end) + "]";
}

bool is_unsigned_integer(const nlohmann::json& j) {
  return j.is_number_unsigned() || (j.is_number_integer() && j.get<int64_t>() >= 0);
}

}  // namespace

size_t dtype_size(DType dtype) { return info(dtype).size; }
const char* dtype_name(DType dtype) { return info(dtype).name; }

bool parse_dtype(const std::string& name, DType* out) {
  for (const auto& i : kDTypes) {
    if (name == i.name) {
      *out = i.dtype;
      return true;
    }
  }
  return false;
}

int64_t TensorEntry::numel() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

std::string format_shape(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i) s += ',';
    s += std::to_string(shape[i]);
  }
  return s + "]";
}

// A read-only private mapping of a whole file; unmapped when the last owner goes.
class MappedFile {
 public:
  MappedFile(const std::string& path, size_t size) : size_(size) {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) throw error_at(path, "", std::string("cannot open: ") + std::strerror(errno));
    void* p = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
    int mmap_errno = errno;
    ::close(fd);  // the mapping keeps the file alive
    if (p == MAP_FAILED)
      throw error_at(path, "", std::string("cannot memory-map: ") + std::strerror(mmap_errno));
    data_ = static_cast<const std::byte*>(p);
  }
  ~MappedFile() { ::munmap(const_cast<std::byte*>(data_), size_); }
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const std::byte* data() const { return data_; }
  size_t size() const { return size_; }

 private:
  const std::byte* data_ = nullptr;
  size_t size_ = 0;
};

SafetensorsFile::~SafetensorsFile() = default;

size_t SafetensorsFile::file_size() const { return mapping_->size(); }

const TensorEntry* SafetensorsFile::find(const std::string& name) const {
  auto it = index_.find(name);
  return it == index_.end() ? nullptr : &tensors_[it->second];
}

namespace {

// The header's JSON object. nlohmann keeps the last of two equal keys; a callback sees every
// top-level key so a name written twice is an error rather than a silently dropped tensor.
nlohmann::json parse_header(const std::string& file, const char* header_begin,
                            uint64_t header_len) {
  std::set<std::string> seen_keys;
  std::string duplicate;
  auto on_event = [&](int depth, nlohmann::json::parse_event_t event, nlohmann::json& parsed) {
    if (depth == 1 && event == nlohmann::json::parse_event_t::key && parsed.is_string()) {
      const auto& key = parsed.get_ref<const std::string&>();
      if (!seen_keys.insert(key).second && duplicate.empty()) duplicate = key;
    }
    return true;
  };
  nlohmann::json header;
  try {
    header = nlohmann::json::parse(header_begin, header_begin + header_len, on_event);
  } catch (const nlohmann::json::parse_error& e) {
    // e.byte is 1-based and points one past the end when the text stops early.
    if (e.byte > header_len)
      throw error_at(file, "",
                     "header is not valid JSON (it ends early, after " +
                         std::to_string(header_len) + " bytes)");
    throw error_at(file, "",
                   "header is not valid JSON (error at character " + std::to_string(e.byte) +
                       " of " + std::to_string(header_len) + ")");
  } catch (const nlohmann::json::out_of_range&) {  // a number such as 1e5555
    throw error_at(file, "", "header is not valid JSON (a number is out of range)");
  }
  if (!header.is_object()) throw error_at(file, "", "header is not a JSON object");
  if (!duplicate.empty())
    throw error_at(file, "tensor '" + duplicate + "'", "appears twice in the header");
  return header;
}

// One tensor's header entry, checked against the data section [data, data + data_size).
TensorEntry read_entry(const std::string& file, const std::string& name,
                       const nlohmann::json& value, const std::byte* data, uint64_t data_size) {
  const std::string what = "tensor '" + name + "'";
  if (name.empty()) throw error_at(file, what, "empty tensor name");
  if (!value.is_object()) throw error_at(file, what, "entry is not an object");
  for (const char* key : {"dtype", "shape", "data_offsets"})
    if (!value.contains(key)) throw error_at(file, what, std::string("missing '") + key + "'");

  TensorEntry entry;
  entry.name = name;
  entry.file = file;
  const auto& dtype = value["dtype"];
  if (!dtype.is_string()) throw error_at(file, what, "dtype is not a string");
  if (!parse_dtype(dtype.get<std::string>(), &entry.dtype))
    throw error_at(
        file, what,
        "unknown dtype '" + dtype.get<std::string>() + "' (supported: " + supported_dtypes() + ")");

  const auto& shape = value["shape"];
  if (!shape.is_array()) throw error_at(file, what, "shape is not an array");
  uint64_t numel = 1;
  bool overflow = false;
  for (const auto& d : shape) {
    if (!is_unsigned_integer(d) ||
        d.get<uint64_t>() > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
      throw error_at(file, what,
                     "shape " + shape.dump() + " is not a list of non-negative integers");
    entry.shape.push_back(d.get<int64_t>());
    overflow = overflow || __builtin_mul_overflow(numel, d.get<uint64_t>(), &numel);
  }
  uint64_t nbytes = 0;
  overflow = overflow || __builtin_mul_overflow(numel, dtype_size(entry.dtype), &nbytes);

  const auto& offsets = value["data_offsets"];
  if (!offsets.is_array() || offsets.size() != 2 || !is_unsigned_integer(offsets[0]) ||
      !is_unsigned_integer(offsets[1]))
    throw error_at(file, what,
                   "data_offsets " + offsets.dump() + " is not a pair of non-negative integers");
  const uint64_t begin = offsets[0].get<uint64_t>();
  const uint64_t end = offsets[1].get<uint64_t>();
  if (end < begin)
    throw error_at(file, what, "data_offsets " + span(begin, end) + " end before they begin");
  if (overflow || end - begin != nbytes)
    throw error_at(file, what,
                   "data_offsets " + span(begin, end) + " do not match shape " +
                       format_shape(entry.shape) + " x " + dtype_name(entry.dtype) + " (" +
                       (overflow ? std::string("overflows") : std::to_string(nbytes)) + " bytes)");
  if (end > data_size)
    throw error_at(file, what,
                   "data_offsets " + span(begin, end) +
                       " extend past the end of the data section (" + std::to_string(data_size) +
                       " bytes)");
  entry.data = data + begin;
  entry.nbytes = nbytes;
  return entry;
}

// No two non-empty tensors share bytes: their spans, sorted by where they begin.
void check_no_overlap(const std::string& file, const std::vector<TensorEntry>& tensors,
                      const std::byte* data) {
  std::vector<const TensorEntry*> by_begin;
  for (const auto& t : tensors)
    if (t.nbytes > 0) by_begin.push_back(&t);
  std::sort(by_begin.begin(), by_begin.end(),
            [](const TensorEntry* a, const TensorEntry* b) { return a->data < b->data; });
  for (size_t i = 1; i < by_begin.size(); ++i) {
    const TensorEntry* prev = by_begin[i - 1];
    const TensorEntry* cur = by_begin[i];
    if (cur->data < prev->data + prev->nbytes) {
      auto off = [&](const TensorEntry* t) { return static_cast<uint64_t>(t->data - data); };
      throw error_at(file, "tensor '" + cur->name + "'",
                     "data_offsets " + span(off(cur), off(cur) + cur->nbytes) +
                         " overlap tensor '" + prev->name + "' " +
                         span(off(prev), off(prev) + prev->nbytes));
    }
  }
}

}  // namespace

std::shared_ptr<SafetensorsFile> SafetensorsFile::open(const std::filesystem::path& path) {
  const std::string file = path.string();
  struct stat st {};
  if (::stat(file.c_str(), &st) != 0)
    throw error_at(file, "", std::string("cannot open: ") + std::strerror(errno));
  if (!S_ISREG(st.st_mode)) throw error_at(file, "", "not a regular file");
  const uint64_t size = static_cast<uint64_t>(st.st_size);
  if (size < 8)
    throw error_at(
        file, "",
        "file is " + std::to_string(size) + " bytes, shorter than the 8-byte header length");

  std::shared_ptr<SafetensorsFile> result(new SafetensorsFile());
  result->path_ = path;
  result->mapping_ = std::make_unique<MappedFile>(file, size);
  const std::byte* base = result->mapping_->data();

  uint64_t header_len = 0;
  for (int i = 7; i >= 0; --i) header_len = (header_len << 8) | static_cast<uint8_t>(base[i]);
  if (header_len > kMaxHeaderBytes)
    throw error_at(file, "",
                   "header length " + std::to_string(header_len) + " exceeds the limit of " +
                       std::to_string(kMaxHeaderBytes) + " bytes");
  if (header_len > size - 8)
    throw error_at(file, "",
                   "header length " + std::to_string(header_len) +
                       " exceeds the file size minus 8 (" + std::to_string(size - 8) + " bytes)");
  const char* header_begin = reinterpret_cast<const char*>(base + 8);
  const uint64_t data_size = size - 8 - header_len;
  const std::byte* data = base + 8 + header_len;

  const nlohmann::json header = parse_header(file, header_begin, header_len);

  for (auto it = header.begin(); it != header.end(); ++it) {
    const std::string& name = it.key();
    const nlohmann::json& value = it.value();
    if (name == "__metadata__") {
      if (!value.is_object()) throw error_at(file, "__metadata__", "is not an object");
      for (auto m = value.begin(); m != value.end(); ++m) {
        if (!m.value().is_string())
          throw error_at(file, "__metadata__", "value of '" + m.key() + "' is not a string");
        result->metadata_[m.key()] = m.value().get<std::string>();
      }
      continue;
    }
    result->tensors_.push_back(read_entry(file, name, value, data, data_size));
  }

  check_no_overlap(file, result->tensors_, data);

  for (size_t i = 0; i < result->tensors_.size(); ++i) result->index_[result->tensors_[i].name] = i;
  log::get("model")->debug("mapped {}: {} tensors, {} data bytes", file, result->tensors_.size(),
                           data_size);
  return result;
}

}  // namespace csweep::model
