// Reads safetensors files (https://github.com/huggingface/safetensors format): an 8-byte
// little-endian header length, a JSON header, then the tensor bytes. Every number in the
// header is checked before it is used; a file that passes Open() can be read without further
// checks.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <vector>
#include "absl/strings/string_view.h"

#include "absl/status/statusor.h"
#include "core/tensor/tensor.h"
#include "core/util/mapped_file.h"

namespace quench {

// safetensors' own limit on the JSON header.
inline constexpr uint64_t kMaxSafetensorsHeaderBytes = 100'000'000;

struct SafetensorsEntry {
  std::string name;
  DType dtype = DType::kF32;
  Shape shape;
  uint64_t data_begin = 0;  // byte offsets relative to the start of the data section
  uint64_t data_end = 0;
};

class SafetensorsFile {
 public:
  // Maps and validates `path`.
  static absl::StatusOr<SafetensorsFile> Open(const std::filesystem::path& path);

  // Validates `bytes` as a whole safetensors file; `owner` keeps them alive for the tensor
  // views, and `path` names the file in messages. (Fuzz targets parse memory this way.)
  static absl::StatusOr<SafetensorsFile> Parse(std::shared_ptr<const void> owner,
                                               std::span<const std::byte> bytes,
                                               const std::filesystem::path& path);

  const std::filesystem::path& path() const { return path_; }
  // Tensors in the order of their data in the file.
  const std::vector<SafetensorsEntry>& entries() const { return entries_; }
  // The `__metadata__` string map (empty when absent).
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  uint64_t header_bytes() const { return header_bytes_; }

  // nullptr when there is no tensor of that name.
  const SafetensorsEntry* Find(absl::string_view name) const;

  // A zero-copy view of the tensor's bytes; it keeps the mapping alive.
  Tensor View(const SafetensorsEntry& entry) const;

 private:
  std::shared_ptr<const void> owner_;
  std::span<const std::byte> bytes_;
  std::filesystem::path path_;
  std::vector<SafetensorsEntry> entries_;
  std::map<std::string, size_t, std::less<>> index_;
  std::map<std::string, std::string> metadata_;
  uint64_t header_bytes_ = 0;
  uint64_t data_offset_ = 0;
};

}  // namespace quench
