#include "core/gguf/gguf_file.h"

#include <cstring>

#include "absl/strings/str_cat.h"
#include "core/util/atomic_file.h"
#include "core/util/status_macros.h"

namespace quench {
namespace {

constexpr char kMagic[4] = {'G', 'G', 'U', 'F'};
constexpr uint32_t kVersion = 3;
// Limits that keep a corrupt count from turning into a huge allocation; llama.cpp's own are
// of the same order (names ≤ 63 bytes for tensors, ≤ 4 dimensions).
constexpr uint64_t kMaxTensorName = 63;
constexpr uint32_t kMaxDims = 4;

uint64_t AlignUp(uint64_t value, uint64_t alignment) {
  return (value + alignment - 1) / alignment * alignment;
}

size_t ScalarBytes(GgufValueType type) {
  switch (type) {
    case GgufValueType::kU8:
    case GgufValueType::kI8:
    case GgufValueType::kBool:
      return 1;
    case GgufValueType::kU16:
    case GgufValueType::kI16:
      return 2;
    case GgufValueType::kU32:
    case GgufValueType::kI32:
    case GgufValueType::kF32:
      return 4;
    case GgufValueType::kU64:
    case GgufValueType::kI64:
    case GgufValueType::kF64:
      return 8;
    case GgufValueType::kString:
    case GgufValueType::kArray:
      return 0;
  }
  return 0;
}

// Serialization -------------------------------------------------------------------------------

class ByteSink {
 public:
  template <typename T>
  void Put(T value) {
    const auto* bytes = reinterpret_cast<const uint8_t*>(&value);
    data_.insert(data_.end(), bytes, bytes + sizeof(T));
  }
  void PutString(const std::string& text) {
    Put<uint64_t>(text.size());
    data_.insert(data_.end(), text.begin(), text.end());
  }
  // A number held as double, written in `type`'s width.
  void PutNumber(GgufValueType type, double value) {
    switch (type) {
      case GgufValueType::kU8:
        return Put<uint8_t>(static_cast<uint8_t>(value));
      case GgufValueType::kI8:
        return Put<int8_t>(static_cast<int8_t>(value));
      case GgufValueType::kU16:
        return Put<uint16_t>(static_cast<uint16_t>(value));
      case GgufValueType::kI16:
        return Put<int16_t>(static_cast<int16_t>(value));
      case GgufValueType::kU32:
        return Put<uint32_t>(static_cast<uint32_t>(value));
      case GgufValueType::kI32:
        return Put<int32_t>(static_cast<int32_t>(value));
      case GgufValueType::kF32:
        return Put<float>(static_cast<float>(value));
      case GgufValueType::kBool:
        return Put<uint8_t>(value != 0);
      case GgufValueType::kU64:
        return Put<uint64_t>(static_cast<uint64_t>(value));
      case GgufValueType::kI64:
        return Put<int64_t>(static_cast<int64_t>(value));
      case GgufValueType::kF64:
        return Put<double>(value);
      case GgufValueType::kString:
      case GgufValueType::kArray:
        return;
    }
  }
  void PutValue(const GgufValue& value) {
    switch (value.type) {
      case GgufValueType::kString:
        return PutString(value.string_value);
      case GgufValueType::kArray:
        Put<uint32_t>(static_cast<uint32_t>(value.element_type));
        if (value.element_type == GgufValueType::kString) {
          Put<uint64_t>(value.strings.size());
          for (const auto& text : value.strings) PutString(text);
        } else {
          Put<uint64_t>(value.numbers.size());
          for (double number : value.numbers) PutNumber(value.element_type, number);
        }
        return;
      case GgufValueType::kU8:
      case GgufValueType::kU16:
      case GgufValueType::kU32:
      case GgufValueType::kU64:
        return PutUnsigned(value.type, value.unsigned_value);
      case GgufValueType::kI8:
      case GgufValueType::kI16:
      case GgufValueType::kI32:
      case GgufValueType::kI64:
        return PutSigned(value.type, value.signed_value);
      case GgufValueType::kF32:
      case GgufValueType::kF64:
        return PutNumber(value.type, value.float_value);
      case GgufValueType::kBool:
        return Put<uint8_t>(value.bool_value ? 1 : 0);
    }
  }
  void PadTo(uint64_t alignment) { data_.resize(AlignUp(data_.size(), alignment), 0); }
  const std::vector<uint8_t>& data() const { return data_; }

 private:
  void PutUnsigned(GgufValueType type, uint64_t value) {
    if (type == GgufValueType::kU64) return Put<uint64_t>(value);
    PutNumber(type, static_cast<double>(value));
  }
  void PutSigned(GgufValueType type, int64_t value) {
    if (type == GgufValueType::kI64) return Put<int64_t>(value);
    PutNumber(type, static_cast<double>(value));
  }
  std::vector<uint8_t> data_;
};

// Parsing -------------------------------------------------------------------------------------

class ByteSource {
 public:
  ByteSource(std::span<const std::byte> bytes, const std::filesystem::path& path)
      : bytes_(bytes), path_(path) {}

  absl::Status Fail(absl::string_view what) const {
    return absl::InvalidArgumentError(
        absl::StrCat(path_.string(), ": not a valid GGUF file: ", what, " (at byte ", pos_, ")"));
  }
  template <typename T>
  absl::StatusOr<T> Get(absl::string_view what) {
    if (bytes_.size() - pos_ < sizeof(T)) return Fail(absl::StrCat("truncated in ", what));
    T value;
    std::memcpy(&value, bytes_.data() + pos_, sizeof(T));
    pos_ += sizeof(T);
    return value;
  }
  absl::StatusOr<std::string> GetString(absl::string_view what) {
    QUENCH_ASSIGN_OR_RETURN(const uint64_t length, Get<uint64_t>(what));
    if (bytes_.size() - pos_ < length)
      return Fail(absl::StrCat(what, ": a string of ", length, " bytes runs past the end"));
    std::string text(reinterpret_cast<const char*>(bytes_.data() + pos_), length);
    pos_ += length;
    return text;
  }
  absl::StatusOr<double> GetNumber(GgufValueType type, absl::string_view what) {
    switch (type) {
      case GgufValueType::kU8:
        return Cast<uint8_t>(what);
      case GgufValueType::kI8:
        return Cast<int8_t>(what);
      case GgufValueType::kU16:
        return Cast<uint16_t>(what);
      case GgufValueType::kI16:
        return Cast<int16_t>(what);
      case GgufValueType::kU32:
        return Cast<uint32_t>(what);
      case GgufValueType::kI32:
        return Cast<int32_t>(what);
      case GgufValueType::kF32:
        return Cast<float>(what);
      case GgufValueType::kBool:
        return Cast<uint8_t>(what);
      case GgufValueType::kU64:
        return Cast<uint64_t>(what);
      case GgufValueType::kI64:
        return Cast<int64_t>(what);
      case GgufValueType::kF64:
        return Cast<double>(what);
      case GgufValueType::kString:
      case GgufValueType::kArray:
        break;
    }
    return Fail(absl::StrCat(what, ": not a number type"));
  }
  absl::StatusOr<GgufValue> GetValue(GgufValueType type, const std::string& key) {
    GgufValue value;
    value.type = type;
    if (type == GgufValueType::kString) {
      QUENCH_ASSIGN_OR_RETURN(value.string_value, GetString(key));
      return value;
    }
    if (type == GgufValueType::kArray) {
      QUENCH_ASSIGN_OR_RETURN(const uint32_t element, Get<uint32_t>(key));
      if (element > static_cast<uint32_t>(GgufValueType::kF64) ||
          element == static_cast<uint32_t>(GgufValueType::kArray))
        return Fail(absl::StrCat(key, ": array of unknown or nested type ", element));
      value.element_type = static_cast<GgufValueType>(element);
      QUENCH_ASSIGN_OR_RETURN(const uint64_t count, Get<uint64_t>(key));
      // Every element takes at least one byte (strings eight), which bounds a corrupt count.
      const uint64_t least =
          value.element_type == GgufValueType::kString ? 8 : ScalarBytes(value.element_type);
      if (count > (bytes_.size() - pos_) / least)
        return Fail(absl::StrCat(key, ": array of ", count, " elements runs past the end"));
      for (uint64_t i = 0; i < count; ++i) {
        if (value.element_type == GgufValueType::kString) {
          QUENCH_ASSIGN_OR_RETURN(std::string text, GetString(key));
          value.strings.push_back(std::move(text));
        } else {
          QUENCH_ASSIGN_OR_RETURN(const double number, GetNumber(value.element_type, key));
          value.numbers.push_back(number);
        }
      }
      return value;
    }
    switch (type) {
      case GgufValueType::kU64: {
        QUENCH_ASSIGN_OR_RETURN(value.unsigned_value, Get<uint64_t>(key));
        return value;
      }
      case GgufValueType::kI64: {
        QUENCH_ASSIGN_OR_RETURN(value.signed_value, Get<int64_t>(key));
        return value;
      }
      default:
        break;
    }
    QUENCH_ASSIGN_OR_RETURN(const double number, GetNumber(type, key));
    switch (type) {
      case GgufValueType::kU8:
      case GgufValueType::kU16:
      case GgufValueType::kU32:
        value.unsigned_value = static_cast<uint64_t>(number);
        break;
      case GgufValueType::kI8:
      case GgufValueType::kI16:
      case GgufValueType::kI32:
        value.signed_value = static_cast<int64_t>(number);
        break;
      case GgufValueType::kBool:
        value.bool_value = number != 0;
        break;
      default:
        value.float_value = number;
    }
    return value;
  }
  uint64_t position() const { return pos_; }

 private:
  template <typename T>
  absl::StatusOr<double> Cast(absl::string_view what) {
    QUENCH_ASSIGN_OR_RETURN(const T value, Get<T>(what));
    return static_cast<double>(value);
  }
  std::span<const std::byte> bytes_;
  const std::filesystem::path& path_;
  uint64_t pos_ = 0;
};

}  // namespace

absl::string_view GgufValueTypeName(GgufValueType type) {
  static constexpr const char* kNames[] = {"u8",   "i8",     "u16",   "i16", "u32", "i32", "f32",
                                           "bool", "string", "array", "u64", "i64", "f64"};
  const auto index = static_cast<uint32_t>(type);
  return index < std::size(kNames) ? kNames[index] : "unknown";
}

GgufValue GgufValue::U32(uint32_t value) {
  GgufValue v;
  v.type = GgufValueType::kU32;
  v.unsigned_value = value;
  return v;
}
GgufValue GgufValue::I32(int32_t value) {
  GgufValue v;
  v.type = GgufValueType::kI32;
  v.signed_value = value;
  return v;
}
GgufValue GgufValue::F32(float value) {
  GgufValue v;
  v.type = GgufValueType::kF32;
  v.float_value = value;
  return v;
}
GgufValue GgufValue::Bool(bool value) {
  GgufValue v;
  v.type = GgufValueType::kBool;
  v.bool_value = value;
  return v;
}
GgufValue GgufValue::String(std::string value) {
  GgufValue v;
  v.type = GgufValueType::kString;
  v.string_value = std::move(value);
  return v;
}
GgufValue GgufValue::StringArray(std::vector<std::string> values) {
  GgufValue v;
  v.type = GgufValueType::kArray;
  v.element_type = GgufValueType::kString;
  v.strings = std::move(values);
  return v;
}
namespace {

// A numeric array value: the elements are kept as doubles, tagged with their GGUF type.
template <typename T>
GgufValue NumberArray(GgufValueType element_type, const std::vector<T>& values) {
  GgufValue v;
  v.type = GgufValueType::kArray;
  v.element_type = element_type;
  v.numbers.assign(values.begin(), values.end());
  return v;
}

}  // namespace

GgufValue GgufValue::F32Array(std::vector<float> values) {
  return NumberArray(GgufValueType::kF32, values);
}
GgufValue GgufValue::I32Array(std::vector<int32_t> values) {
  return NumberArray(GgufValueType::kI32, values);
}
GgufValue GgufValue::U32Array(std::vector<uint32_t> values) {
  return NumberArray(GgufValueType::kU32, values);
}

int64_t GgufTensorInfo::num_elements() const {
  int64_t count = 1;
  for (int64_t extent : ne) count *= extent;
  return count;
}

int64_t GgufTensorInfo::num_bytes() const {
  if (ne.empty()) return GgmlRowBytes(type, 1);
  return GgmlRowBytes(type, ne[0]) * (num_elements() / std::max<int64_t>(ne[0], 1));
}

void GgufWriter::Add(std::string key, GgufValue value) {
  metadata_.emplace_back(std::move(key), std::move(value));
}

absl::Status GgufWriter::AddTensor(std::string name, std::vector<int64_t> ne, GgmlType type,
                                   Producer produce) {
  const auto& info = GgmlTypeInfoOf(type);
  if (name.size() > kMaxTensorName)
    return absl::InvalidArgumentError(
        absl::StrCat("GGUF tensor name '", name, "' is longer than ", kMaxTensorName, " bytes"));
  if (ne.empty() || ne.size() > kMaxDims || ne[0] % info.block_size != 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "GGUF tensor '", name, "': ", ne.size(),
        " dimensions with ne[0] = ", ne.empty() ? 0 : ne[0], " cannot be stored as ", info.name));
  }
  tensors_.push_back({std::move(name), std::move(ne), type, 0});
  producers_.push_back(std::move(produce));
  return absl::OkStatus();
}

absl::Status GgufWriter::Write(const std::filesystem::path& path) const {
  ByteSink header;
  for (char c : kMagic) header.Put<char>(c);
  header.Put<uint32_t>(kVersion);
  header.Put<uint64_t>(tensors_.size());
  header.Put<uint64_t>(metadata_.size());
  uint32_t alignment = kGgufDefaultAlignment;
  for (const auto& [key, value] : metadata_) {
    header.PutString(key);
    header.Put<uint32_t>(static_cast<uint32_t>(value.type));
    header.PutValue(value);
    if (key == "general.alignment") alignment = static_cast<uint32_t>(value.unsigned_value);
  }
  uint64_t offset = 0;
  for (const auto& tensor : tensors_) {
    header.PutString(tensor.name);
    header.Put<uint32_t>(static_cast<uint32_t>(tensor.ne.size()));
    for (int64_t extent : tensor.ne) header.Put<uint64_t>(extent);
    header.Put<uint32_t>(static_cast<uint32_t>(tensor.type));
    header.Put<uint64_t>(offset);
    offset = AlignUp(offset + tensor.num_bytes(), alignment);
  }
  header.PadTo(alignment);
  QUENCH_ASSIGN_OR_RETURN(AtomicFileWriter file, AtomicFileWriter::Create(path));
  QUENCH_RETURN_IF_ERROR(file.Write(std::as_bytes(std::span(header.data()))));
  const std::vector<uint8_t> padding(alignment, 0);
  for (size_t i = 0; i < tensors_.size(); ++i) {
    QUENCH_ASSIGN_OR_RETURN(const std::vector<uint8_t> bytes, producers_[i]());
    const int64_t expected = tensors_[i].num_bytes();
    if (static_cast<int64_t>(bytes.size()) != expected) {
      return absl::InternalError(absl::StrCat("GGUF tensor '", tensors_[i].name, "': produced ",
                                              bytes.size(), " bytes, expected ", expected));
    }
    QUENCH_RETURN_IF_ERROR(file.Write(std::as_bytes(std::span(bytes))));
    const uint64_t pad = AlignUp(bytes.size(), alignment) - bytes.size();
    QUENCH_RETURN_IF_ERROR(file.Write(std::as_bytes(std::span(padding.data(), pad))));
  }
  return file.Commit();
}

absl::StatusOr<GgufFile> GgufFile::Open(const std::filesystem::path& path) {
  GgufFile gguf;
  QUENCH_ASSIGN_OR_RETURN(gguf.file_, MappedFile::Open(path));
  ByteSource source(gguf.file_->bytes(), path);
  QUENCH_ASSIGN_OR_RETURN(const auto magic, source.Get<uint32_t>("the magic"));
  if (std::memcmp(&magic, kMagic, 4) != 0) return source.Fail("the file does not start with GGUF");
  QUENCH_ASSIGN_OR_RETURN(gguf.version_, source.Get<uint32_t>("the version"));
  if (gguf.version_ != 2 && gguf.version_ != 3)
    return source.Fail(absl::StrCat("version ", gguf.version_, " (Quench reads 2 and 3)"));
  QUENCH_ASSIGN_OR_RETURN(const uint64_t tensor_count, source.Get<uint64_t>("the tensor count"));
  QUENCH_ASSIGN_OR_RETURN(const uint64_t kv_count, source.Get<uint64_t>("the metadata count"));
  const uint64_t size = gguf.file_->bytes().size();
  // Every key/value takes at least 12 bytes and every tensor descriptor at least 24.
  if (kv_count > size / 12 || tensor_count > size / 24)
    return source.Fail(absl::StrCat(kv_count, " keys and ", tensor_count, " tensors cannot fit in ",
                                    size, " bytes"));
  for (uint64_t i = 0; i < kv_count; ++i) {
    QUENCH_ASSIGN_OR_RETURN(std::string key, source.GetString("a metadata key"));
    QUENCH_ASSIGN_OR_RETURN(const uint32_t type, source.Get<uint32_t>(key));
    if (type > static_cast<uint32_t>(GgufValueType::kF64))
      return source.Fail(absl::StrCat(key, ": unknown value type ", type));
    QUENCH_ASSIGN_OR_RETURN(GgufValue value,
                            source.GetValue(static_cast<GgufValueType>(type), key));
    if (!gguf.metadata_index_.emplace(key, gguf.metadata_.size()).second)
      return source.Fail(absl::StrCat("key '", key, "' appears twice"));
    gguf.metadata_.emplace_back(std::move(key), std::move(value));
  }
  if (const GgufValue* alignment = gguf.Find("general.alignment")) {
    if (alignment->type != GgufValueType::kU32 || alignment->unsigned_value == 0 ||
        (alignment->unsigned_value & (alignment->unsigned_value - 1)) != 0)
      return source.Fail("general.alignment must be a u32 power of two");
    gguf.alignment_ = static_cast<uint32_t>(alignment->unsigned_value);
  }
  for (uint64_t i = 0; i < tensor_count; ++i) {
    GgufTensorInfo info;
    QUENCH_ASSIGN_OR_RETURN(info.name, source.GetString("a tensor name"));
    QUENCH_ASSIGN_OR_RETURN(const uint32_t dims, source.Get<uint32_t>(info.name));
    if (dims == 0 || dims > kMaxDims)
      return source.Fail(absl::StrCat("tensor '", info.name, "' has ", dims, " dimensions"));
    for (uint32_t d = 0; d < dims; ++d) {
      QUENCH_ASSIGN_OR_RETURN(const uint64_t extent, source.Get<uint64_t>(info.name));
      if (extent == 0 || extent > (uint64_t{1} << 40))
        return source.Fail(absl::StrCat("tensor '", info.name, "' has extent ", extent));
      info.ne.push_back(static_cast<int64_t>(extent));
    }
    QUENCH_ASSIGN_OR_RETURN(const uint32_t type, source.Get<uint32_t>(info.name));
    const GgmlTypeInfo* type_info = FindGgmlType(type);
    if (type_info == nullptr)
      return source.Fail(absl::StrCat("tensor '", info.name, "' has ggml type ", type,
                                      ", which Quench does not read"));
    info.type = type_info->type;
    if (info.ne[0] % type_info->block_size != 0)
      return source.Fail(absl::StrCat("tensor '", info.name, "': ne[0] = ", info.ne[0],
                                      " is not a multiple of ", type_info->name, "'s block"));
    QUENCH_ASSIGN_OR_RETURN(info.offset, source.Get<uint64_t>(info.name));
    if (info.offset % gguf.alignment_ != 0)
      return source.Fail(absl::StrCat("tensor '", info.name, "' is not aligned"));
    if (!gguf.tensor_index_.emplace(info.name, gguf.tensors_.size()).second)
      return source.Fail(absl::StrCat("tensor '", info.name, "' appears twice"));
    gguf.tensors_.push_back(std::move(info));
  }
  gguf.data_offset_ = AlignUp(source.position(), gguf.alignment_);
  for (const auto& info : gguf.tensors_) {
    const uint64_t bytes = info.num_bytes();
    if (gguf.data_offset_ > size || info.offset > size - gguf.data_offset_ ||
        bytes > size - gguf.data_offset_ - info.offset)
      return source.Fail(absl::StrCat("tensor '", info.name, "' runs past the end of the file"));
  }
  return gguf;
}

const GgufValue* GgufFile::Find(const std::string& key) const {
  const auto it = metadata_index_.find(key);
  return it == metadata_index_.end() ? nullptr : &metadata_[it->second].second;
}

const GgufTensorInfo* GgufFile::FindTensor(const std::string& name) const {
  const auto it = tensor_index_.find(name);
  return it == tensor_index_.end() ? nullptr : &tensors_[it->second];
}

std::span<const uint8_t> GgufFile::TensorBytes(const GgufTensorInfo& info) const {
  const auto* base = reinterpret_cast<const uint8_t*>(file_->bytes().data());
  return {base + data_offset_ + info.offset, static_cast<size_t>(info.num_bytes())};
}

absl::StatusOr<uint64_t> GgufFile::GetUnsigned(const std::string& key) const {
  const GgufValue* value = Find(key);
  if (value == nullptr) return absl::NotFoundError(absl::StrCat(path().string(), ": no ", key));
  switch (value->type) {
    case GgufValueType::kU8:
    case GgufValueType::kU16:
    case GgufValueType::kU32:
    case GgufValueType::kU64:
      return value->unsigned_value;
    case GgufValueType::kI8:
    case GgufValueType::kI16:
    case GgufValueType::kI32:
    case GgufValueType::kI64:
      if (value->signed_value >= 0) return static_cast<uint64_t>(value->signed_value);
      break;
    default:
      break;
  }
  return absl::InvalidArgumentError(absl::StrCat(path().string(), ": ", key, " is ",
                                                 GgufValueTypeName(value->type),
                                                 ", expected an unsigned integer"));
}

absl::StatusOr<double> GgufFile::GetFloat(const std::string& key) const {
  const GgufValue* value = Find(key);
  if (value == nullptr) return absl::NotFoundError(absl::StrCat(path().string(), ": no ", key));
  if (value->type != GgufValueType::kF32 && value->type != GgufValueType::kF64) {
    return absl::InvalidArgumentError(absl::StrCat(
        path().string(), ": ", key, " is ", GgufValueTypeName(value->type), ", expected f32"));
  }
  return value->float_value;
}

absl::StatusOr<std::string> GgufFile::GetString(const std::string& key) const {
  const GgufValue* value = Find(key);
  if (value == nullptr) return absl::NotFoundError(absl::StrCat(path().string(), ": no ", key));
  if (value->type != GgufValueType::kString) {
    return absl::InvalidArgumentError(absl::StrCat(
        path().string(), ": ", key, " is ", GgufValueTypeName(value->type), ", expected string"));
  }
  return value->string_value;
}

absl::StatusOr<std::vector<float>> GgufFile::DequantizeTensor(const GgufTensorInfo& info) const {
  std::vector<float> values(info.num_elements());
  const int64_t row = info.ne[0];
  const int64_t row_bytes = GgmlRowBytes(info.type, row);
  const std::span<const uint8_t> bytes = TensorBytes(info);
  for (int64_t r = 0; r < info.num_elements() / row; ++r) {
    DequantizeGgmlRow(info.type, bytes.subspan(r * row_bytes, row_bytes),
                      std::span(values).subspan(r * row, row));
  }
  return values;
}

}  // namespace quench
