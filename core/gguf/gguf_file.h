// The GGUF container (version 3, little-endian; FORMATS.md §2d): a header, typed key/value
// metadata, tensor descriptors, then each tensor's bytes at an aligned offset. The writer
// streams tensors one at a time into a temporary file renamed on success; the reader maps a
// file and checks every count, length and offset against its size before trusting it.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "core/gguf/ggml_types.h"
#include "core/util/mapped_file.h"

namespace quench {

enum class GgufValueType : uint32_t {
  kU8 = 0,
  kI8 = 1,
  kU16 = 2,
  kI16 = 3,
  kU32 = 4,
  kI32 = 5,
  kF32 = 6,
  kBool = 7,
  kString = 8,
  kArray = 9,
  kU64 = 10,
  kI64 = 11,
  kF64 = 12,
};

absl::string_view GgufValueTypeName(GgufValueType type);

// One metadata value. Numbers of every width are held as int64 / uint64 / double; arrays hold
// their elements in `strings` or `numbers` (llama's metadata has no nested arrays).
struct GgufValue {
  GgufValueType type = GgufValueType::kU32;
  GgufValueType element_type = GgufValueType::kU8;  // arrays only
  uint64_t unsigned_value = 0;                      // u8..u64
  int64_t signed_value = 0;                         // i8..i64
  double float_value = 0;                           // f32, f64
  bool bool_value = false;
  std::string string_value;
  std::vector<std::string> strings;  // array of string
  std::vector<double> numbers;       // array of any numeric type (or bool)

  static GgufValue U32(uint32_t value);
  static GgufValue I32(int32_t value);
  static GgufValue F32(float value);
  static GgufValue Bool(bool value);
  static GgufValue String(std::string value);
  static GgufValue StringArray(std::vector<std::string> values);
  static GgufValue F32Array(std::vector<float> values);
  static GgufValue I32Array(std::vector<int32_t> values);
  static GgufValue U32Array(std::vector<uint32_t> values);
};

struct GgufTensorInfo {
  std::string name;
  std::vector<int64_t> ne;  // ne[0] is the contiguous dimension (PyTorch shape reversed)
  GgmlType type = GgmlType::kF32;
  uint64_t offset = 0;  // from the start of the data section
  int64_t num_elements() const;
  int64_t num_bytes() const;  // rows of ne[0] elements in `type`'s blocks
};

constexpr uint32_t kGgufDefaultAlignment = 32;

class GgufWriter {
 public:
  void Add(std::string key, GgufValue value);
  // `produce` is called once, in the order tensors were added, and must return exactly
  // info.num_bytes() bytes. ne[0] must be a multiple of the type's block size.
  using Producer = std::function<absl::StatusOr<std::vector<uint8_t>>()>;
  absl::Status AddTensor(std::string name, std::vector<int64_t> ne, GgmlType type,
                         Producer produce);
  // Writes path.tmp, then renames it to `path`.
  absl::Status Write(const std::filesystem::path& path) const;

 private:
  std::vector<std::pair<std::string, GgufValue>> metadata_;
  std::vector<GgufTensorInfo> tensors_;
  std::vector<Producer> producers_;
};

class GgufFile {
 public:
  static absl::StatusOr<GgufFile> Open(const std::filesystem::path& path);

  const std::filesystem::path& path() const { return file_->path(); }
  uint32_t version() const { return version_; }
  uint32_t alignment() const { return alignment_; }
  const std::vector<std::pair<std::string, GgufValue>>& metadata() const { return metadata_; }
  const GgufValue* Find(const std::string& key) const;
  const std::vector<GgufTensorInfo>& tensors() const { return tensors_; }
  const GgufTensorInfo* FindTensor(const std::string& name) const;
  std::span<const uint8_t> TensorBytes(const GgufTensorInfo& info) const;

  // Typed lookups whose errors name the key, the type found and the type wanted.
  absl::StatusOr<uint64_t> GetUnsigned(const std::string& key) const;
  absl::StatusOr<double> GetFloat(const std::string& key) const;
  absl::StatusOr<std::string> GetString(const std::string& key) const;

  // The tensor decoded to fp32 in GGUF order (ne[0] fastest).
  absl::StatusOr<std::vector<float>> DequantizeTensor(const GgufTensorInfo& info) const;

 private:
  std::shared_ptr<const MappedFile> file_;
  uint32_t version_ = 0;
  uint32_t alignment_ = kGgufDefaultAlignment;
  uint64_t data_offset_ = 0;
  std::vector<std::pair<std::string, GgufValue>> metadata_;
  std::map<std::string, size_t> metadata_index_;
  std::vector<GgufTensorInfo> tensors_;
  std::map<std::string, size_t> tensor_index_;
};

}  // namespace quench
