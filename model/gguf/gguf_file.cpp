#include "model/gguf/gguf_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "common/error.h"
#include "model/tokenizer/utf8.h"

namespace csweep::model::gguf {
namespace {

constexpr uint32_t kMaxDims = 4;                   // GGML_MAX_DIMS
constexpr uint64_t kMaxNameBytes = 65535;          // the spec's bound on key strings
constexpr uint64_t kMaxNumel = uint64_t(1) << 50;  // far above any real tensor, far below overflow
constexpr int kMaxArrayDepth = 4;
// Each parsed element costs ~100 bytes of memory however few bytes it took in the file, so arrays
// are capped well above any real vocabulary (262k tokens) or merge list (~1M) but far below a
// count that would exhaust memory.
constexpr uint64_t kMaxArrayElems = uint64_t(1) << 23;

// Reads little-endian values out of the mapped header, checking every length against the
// bytes left; `what` names the key or tensor being read for the error message.
class Cursor {
 public:
  Cursor(const std::byte* data, size_t size, std::string file)
      : data_(data), size_(size), file_(std::move(file)) {}

  size_t pos() const { return pos_; }
  size_t left() const { return size_ - pos_; }

  void need(uint64_t n, const std::string& what) const {
    if (n > left())
      throw error_at(file_, what,
                     "needs " + std::to_string(n) + " bytes at offset " + std::to_string(pos_) +
                         " but the file ends after " + std::to_string(left()) +
                         " (truncated or corrupt)");
  }
  template <typename T>
  T read(const std::string& what) {
    need(sizeof(T), what);
    T v;
    std::memcpy(&v, data_ + pos_, sizeof(T));
    pos_ += sizeof(T);
    return v;
  }
  std::string string(const std::string& what, uint64_t max_len) {
    uint64_t n = read<uint64_t>(what);
    need(n, what);
    if (n > max_len)
      throw error_at(file_, what,
                     "string length " + std::to_string(n) + " exceeds the limit of " +
                         std::to_string(max_len) + " bytes (corrupt file)");
    std::string s(reinterpret_cast<const char*>(data_ + pos_), n);
    // GGUF strings are UTF-8; keys, names and values end up in JSON (config.json,
    // tokenizer.json, the safetensors header), which cannot hold anything else.
    if (auto bad = tokenizer::first_invalid_utf8(s))
      throw error_at(file_, what, "string is not valid UTF-8 (byte " + std::to_string(*bad) + ")");
    pos_ += n;
    return s;
  }

 private:
  const std::byte* data_;
  size_t size_;
  size_t pos_ = 0;
  std::string file_;
};

// The fewest bytes one element of a type can take: bounds an array's count before allocating.
uint64_t min_value_bytes(ValueType t) {
  switch (t) {
    case ValueType::U8:
    case ValueType::I8:
    case ValueType::BOOL:
      return 1;
    case ValueType::U16:
    case ValueType::I16:
      return 2;
    case ValueType::U32:
    case ValueType::I32:
    case ValueType::F32:
      return 4;
    case ValueType::U64:
    case ValueType::I64:
    case ValueType::F64:
    case ValueType::STRING:
      return 8;
    case ValueType::ARRAY:
      return 12;
  }
  return 1;
}

bool known_value_type(uint32_t t) { return t <= uint32_t(ValueType::F64); }

Value read_value(Cursor& c, ValueType type, const std::string& what, const std::string& file,
                 int depth) {
  Value v;
  v.type = type;
  switch (type) {
    case ValueType::U8:
      v.u = c.read<uint8_t>(what);
      break;
    case ValueType::U16:
      v.u = c.read<uint16_t>(what);
      break;
    case ValueType::U32:
      v.u = c.read<uint32_t>(what);
      break;
    case ValueType::U64:
      v.u = c.read<uint64_t>(what);
      break;
    case ValueType::I8:
      v.i = c.read<int8_t>(what);
      break;
    case ValueType::I16:
      v.i = c.read<int16_t>(what);
      break;
    case ValueType::I32:
      v.i = c.read<int32_t>(what);
      break;
    case ValueType::I64:
      v.i = c.read<int64_t>(what);
      break;
    case ValueType::F32:
      v.f = c.read<float>(what);
      break;
    case ValueType::F64:
      v.f = c.read<double>(what);
      break;
    case ValueType::BOOL: {
      uint8_t b = c.read<uint8_t>(what);
      if (b > 1)
        throw error_at(file, what, "bool value " + std::to_string(b) + " is neither 0 nor 1");
      v.b = b == 1;
      break;
    }
    case ValueType::STRING:
      v.s = c.string(what, ~uint64_t(0));
      break;
    case ValueType::ARRAY: {
      if (depth >= kMaxArrayDepth) throw error_at(file, what, "arrays nested deeper than 4 levels");
      uint32_t elem = c.read<uint32_t>(what);
      if (!known_value_type(elem))
        throw error_at(file, what, "unknown array element type " + std::to_string(elem));
      v.elem_type = ValueType(elem);
      uint64_t n = c.read<uint64_t>(what);
      if (n > kMaxArrayElems)
        throw error_at(file, what,
                       "array of " + std::to_string(n) + " values exceeds the limit of " +
                           std::to_string(kMaxArrayElems) + " (corrupt file?)");
      if (n > c.left() / min_value_bytes(v.elem_type))
        throw error_at(file, what,
                       "array of " + std::to_string(n) + " " + value_type_name(v.elem_type) +
                           " values cannot fit in the " + std::to_string(c.left()) +
                           " bytes left (truncated or corrupt)");
      v.array.reserve(n);
      for (uint64_t k = 0; k < n; ++k)
        v.array.push_back(read_value(c, v.elem_type, what, file, depth + 1));
      break;
    }
  }
  return v;
}

}  // namespace

const char* value_type_name(ValueType type) {
  switch (type) {
    case ValueType::U8:
      return "uint8";
    case ValueType::I8:
      return "int8";
    case ValueType::U16:
      return "uint16";
    case ValueType::I16:
      return "int16";
    case ValueType::U32:
      return "uint32";
    case ValueType::I32:
      return "int32";
    case ValueType::F32:
      return "float32";
    case ValueType::BOOL:
      return "bool";
    case ValueType::STRING:
      return "string";
    case ValueType::ARRAY:
      return "array";
    case ValueType::U64:
      return "uint64";
    case ValueType::I64:
      return "int64";
    case ValueType::F64:
      return "float64";
  }
  return "?";
}

bool Value::is_integer() const {
  switch (type) {
    case ValueType::U8:
    case ValueType::I8:
    case ValueType::U16:
    case ValueType::I16:
    case ValueType::U32:
    case ValueType::I32:
    case ValueType::U64:
    case ValueType::I64:
      return true;
    default:
      return false;
  }
}

uint64_t TensorInfo::numel() const {
  uint64_t n = 1;
  for (uint64_t d : dims) n *= d;  // bounded at open()
  return n;
}

std::vector<int64_t> TensorInfo::shape() const { return {dims.rbegin(), dims.rend()}; }

GgufFile::~GgufFile() {
  if (map_) ::munmap(const_cast<std::byte*>(map_), size_);
}

std::shared_ptr<GgufFile> GgufFile::open(const std::filesystem::path& path) {
  const std::string file = path.string();
  std::shared_ptr<GgufFile> g(new GgufFile());
  g->path_ = path;
  int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw error_at(file, "", std::string("cannot open: ") + std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    throw error_at(file, "", "not a regular file");
  }
  g->size_ = size_t(st.st_size);
  if (g->size_ < 24) {
    ::close(fd);
    throw error_at(
        file, "",
        "file is " + std::to_string(g->size_) + " bytes, shorter than a GGUF header (24)");
  }
  void* p = ::mmap(nullptr, g->size_, PROT_READ, MAP_PRIVATE, fd, 0);
  int mmap_errno = errno;
  ::close(fd);  // the mapping keeps the file alive
  if (p == MAP_FAILED)
    throw error_at(file, "", std::string("cannot memory-map: ") + std::strerror(mmap_errno));
  g->map_ = static_cast<const std::byte*>(p);

  Cursor c(g->map_, g->size_, file);
  if (std::memcmp(g->map_, "GGUF", 4) != 0)
    throw error_at(file, "", "not a GGUF file (no 'GGUF' magic)");
  c.read<uint32_t>("header");
  g->version_ = c.read<uint32_t>("header");
  if (g->version_ != 2 && g->version_ != 3)
    throw error_at(file, "header",
                   "GGUF version " + std::to_string(g->version_) +
                       " is not supported (supported: 2, 3; little-endian files only)");
  const uint64_t n_tensors = c.read<uint64_t>("header");
  const uint64_t n_kv = c.read<uint64_t>("header");
  // Smallest possible entries: a key/value is 8 + 1 + 4 + 1 bytes, a tensor info 8 + 1 + 4 + 4 + 8.
  if (n_kv > c.left() / 14)
    throw error_at(
        file, "header",
        std::to_string(n_kv) + " metadata entries cannot fit in the file (truncated or corrupt)");
  if (n_tensors > c.left() / 25)
    throw error_at(
        file, "header",
        std::to_string(n_tensors) + " tensors cannot fit in the file (truncated or corrupt)");

  for (uint64_t k = 0; k < n_kv; ++k) {
    const std::string where = "metadata entry " + std::to_string(k);
    std::string key = c.string(where, kMaxNameBytes);
    const std::string what = "metadata '" + key + "'";
    uint32_t type = c.read<uint32_t>(what);
    if (!known_value_type(type))
      throw error_at(file, what, "unknown value type " + std::to_string(type));
    Value v = read_value(c, ValueType(type), what, file, 0);
    if (!g->metadata_.emplace(key, std::move(v)).second)
      throw error_at(file, what, "appears twice");
  }
  if (auto align = g->get_uint_or_none("general.alignment")) {
    if (*align == 0 || (*align & (*align - 1)) != 0 || *align > (uint64_t(1) << 20))
      g->metadata_error("general.alignment",
                        "must be a power of two up to 2^20, got " + std::to_string(*align));
    g->alignment_ = *align;
  }

  g->tensors_.reserve(n_tensors);
  for (uint64_t k = 0; k < n_tensors; ++k) {
    TensorInfo t;
    t.name = c.string("tensor info " + std::to_string(k), kMaxNameBytes);
    const std::string what = "tensor '" + t.name + "'";
    uint32_t n_dims = c.read<uint32_t>(what);
    if (n_dims == 0 || n_dims > kMaxDims)
      throw error_at(file, what, std::to_string(n_dims) + " dimensions (ggml allows 1 to 4)");
    uint64_t numel = 1;
    for (uint32_t d = 0; d < n_dims; ++d) {
      uint64_t dim = c.read<uint64_t>(what);
      if (dim > kMaxNumel || (dim != 0 && numel > kMaxNumel / dim))
        throw error_at(
            file, what,
            "dimension " + std::to_string(dim) + " makes the tensor impossibly large (corrupt)");
      numel *= dim;
      t.dims.push_back(dim);
    }
    t.type = c.read<uint32_t>(what);
    auto info = ggml_type_info(t.type);
    if (!info) throw error_at(file, what, "unknown ggml type id " + std::to_string(t.type));
    if (t.dims[0] % info->block_elems != 0)
      throw error_at(file, what,
                     "row length " + std::to_string(t.dims[0]) + " is not a multiple of the " +
                         info->name + " block (" + std::to_string(info->block_elems) + ")");
    t.nbytes = numel / info->block_elems * info->block_bytes;
    t.offset = c.read<uint64_t>(what);
    if (t.offset % g->alignment_ != 0)
      throw error_at(file, what,
                     "data offset " + std::to_string(t.offset) +
                         " is not a multiple of the alignment " + std::to_string(g->alignment_));
    if (g->index_.count(t.name)) throw error_at(file, what, "appears twice");
    g->index_[t.name] = g->tensors_.size();
    g->tensors_.push_back(std::move(t));
  }

  const uint64_t data_start = (c.pos() + g->alignment_ - 1) / g->alignment_ * g->alignment_;
  for (TensorInfo& t : g->tensors_) {
    const uint64_t room = g->size_ > data_start ? g->size_ - data_start : 0;
    if (t.offset > room || t.nbytes > room - t.offset)
      throw error_at(file, "tensor '" + t.name + "'",
                     "data [" + std::to_string(data_start + t.offset) + ", " +
                         std::to_string(data_start + t.offset + t.nbytes) +
                         ") ends past the end of the file (" + std::to_string(g->size_) +
                         " bytes): the file is truncated");
    t.data = g->map_ + data_start + t.offset;
  }
  return g;
}

const TensorInfo* GgufFile::find_tensor(const std::string& name) const {
  auto it = index_.find(name);
  return it == index_.end() ? nullptr : &tensors_[it->second];
}

void GgufFile::metadata_error(const std::string& key, const std::string& reason) const {
  throw error_at(path_.string(), "metadata '" + key + "'", reason);
}

const Value* GgufFile::find(const std::string& key) const {
  auto it = metadata_.find(key);
  return it == metadata_.end() ? nullptr : &it->second;
}

std::optional<uint64_t> GgufFile::get_uint_or_none(const std::string& key) const {
  const Value* v = find(key);
  if (!v) return std::nullopt;
  if (!v->is_integer())
    metadata_error(key, std::string("expected an integer, got ") + value_type_name(v->type));
  if (v->i < 0) metadata_error(key, "expected a non-negative integer, got " + std::to_string(v->i));
  return v->i > 0 ? uint64_t(v->i) : v->u;
}

uint64_t GgufFile::get_uint(const std::string& key) const {
  auto v = get_uint_or_none(key);
  if (!v) metadata_error(key, "missing");
  return *v;
}

std::optional<double> GgufFile::get_float_or_none(const std::string& key) const {
  const Value* v = find(key);
  if (!v) return std::nullopt;
  if (v->type == ValueType::F32 || v->type == ValueType::F64) return v->f;
  if (v->is_integer()) return v->i != 0 ? double(v->i) : double(v->u);
  metadata_error(key, std::string("expected a number, got ") + value_type_name(v->type));
}

double GgufFile::get_float(const std::string& key) const {
  auto v = get_float_or_none(key);
  if (!v) metadata_error(key, "missing");
  return *v;
}

std::optional<std::string> GgufFile::get_string_or_none(const std::string& key) const {
  const Value* v = find(key);
  if (!v) return std::nullopt;
  if (v->type != ValueType::STRING)
    metadata_error(key, std::string("expected a string, got ") + value_type_name(v->type));
  return v->s;
}

std::string GgufFile::get_string(const std::string& key) const {
  auto v = get_string_or_none(key);
  if (!v) metadata_error(key, "missing");
  return *v;
}

std::optional<bool> GgufFile::get_bool_or_none(const std::string& key) const {
  const Value* v = find(key);
  if (!v) return std::nullopt;
  if (v->type != ValueType::BOOL)
    metadata_error(key, std::string("expected a bool, got ") + value_type_name(v->type));
  return v->b;
}

const std::vector<Value>& GgufFile::get_array(const std::string& key, ValueType elem_type) const {
  const Value* v = find(key);
  if (!v) metadata_error(key, "missing");
  if (v->type != ValueType::ARRAY)
    metadata_error(key, std::string("expected an array, got ") + value_type_name(v->type));
  // Integer arrays of any width are accepted where integers are wanted (writers differ).
  bool ok = v->elem_type == elem_type || v->array.empty() ||
            (Value{elem_type}.is_integer() && v->array.front().is_integer());
  if (!ok)
    metadata_error(key, std::string("expected an array of ") + value_type_name(elem_type) +
                            ", got " + value_type_name(v->elem_type));
  return v->array;
}

}  // namespace csweep::model::gguf
