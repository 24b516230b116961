#include "core/io/safetensors_reader.h"
#include "absl/strings/string_view.h"

#include <algorithm>
#include <set>

#include "absl/strings/str_cat.h"
#include "core/io/pickle_detect.h"
#include "core/util/status_macros.h"
#include "nlohmann/json.hpp"

namespace quench {
namespace {

using nlohmann::json;

absl::Status Invalid(const std::filesystem::path& path, absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat(path.string(), ": ", what));
}

// Parses the header JSON, refusing duplicate top-level keys (nlohmann would keep the last,
// which would silently hide a tensor).
absl::StatusOr<json> ParseHeaderJson(const std::filesystem::path& path, absl::string_view text) {
  std::set<std::string> keys;
  std::string duplicate;
  json::parser_callback_t callback = [&](int depth, json::parse_event_t event, json& parsed) {
    if (event == json::parse_event_t::key && depth == 1 && parsed.is_string()) {
      if (!keys.insert(parsed.get<std::string>()).second && duplicate.empty()) {
        duplicate = parsed.get<std::string>();
      }
    }
    return true;
  };
  json header = json::parse(text.begin(), text.end(), callback, /*allow_exceptions=*/false);
  if (header.is_discarded()) return Invalid(path, "the header is not valid JSON");
  if (!header.is_object()) return Invalid(path, "the header is JSON but not an object");
  if (!duplicate.empty()) {
    return Invalid(path, absl::StrCat("the header names tensor '", duplicate, "' twice"));
  }
  return header;
}

absl::StatusOr<uint64_t> ReadUnsigned(const std::filesystem::path& path, const std::string& name,
                                      absl::string_view field, const json& value) {
  if (!value.is_number_unsigned() && !(value.is_number_integer() && value.get<int64_t>() >= 0)) {
    return Invalid(path, absl::StrCat("tensor '", name, "': ", field,
                                      " must hold non-negative integers, found ", value.dump()));
  }
  return value.get<uint64_t>();
}

absl::StatusOr<SafetensorsEntry> ParseEntry(const std::filesystem::path& path,
                                            const std::string& name, const json& value) {
  if (!value.is_object()) {
    return Invalid(path, absl::StrCat("tensor '", name, "' is not a JSON object"));
  }
  SafetensorsEntry entry;
  entry.name = name;
  const auto dtype_it = value.find("dtype");
  if (dtype_it == value.end() || !dtype_it->is_string()) {
    return Invalid(path, absl::StrCat("tensor '", name, "' has no \"dtype\" string"));
  }
  const auto dtype = ParseDType(dtype_it->get<std::string>());
  if (!dtype) {
    return Invalid(
        path, absl::StrCat("tensor '", name, "' has unknown dtype '", dtype_it->get<std::string>(),
                           "' (known: F32 F16 BF16 F8_E4M3 F64 I8 U8 I16 I32 I64 BOOL)"));
  }
  entry.dtype = *dtype;

  const auto shape_it = value.find("shape");
  if (shape_it == value.end() || !shape_it->is_array()) {
    return Invalid(path, absl::StrCat("tensor '", name, "' has no \"shape\" array"));
  }
  for (const auto& dim : *shape_it) {
    QUENCH_ASSIGN_OR_RETURN(uint64_t extent, ReadUnsigned(path, name, "shape", dim));
    if (extent > static_cast<uint64_t>(INT64_MAX)) {
      return Invalid(path,
                     absl::StrCat("tensor '", name, "': dimension ", extent, " is too large"));
    }
    entry.shape.push_back(static_cast<int64_t>(extent));
  }

  const auto offsets_it = value.find("data_offsets");
  if (offsets_it == value.end() || !offsets_it->is_array() || offsets_it->size() != 2) {
    return Invalid(path,
                   absl::StrCat("tensor '", name, "' has no \"data_offsets\" pair [begin, end]"));
  }
  QUENCH_ASSIGN_OR_RETURN(entry.data_begin,
                          ReadUnsigned(path, name, "data_offsets", (*offsets_it)[0]));
  QUENCH_ASSIGN_OR_RETURN(entry.data_end,
                          ReadUnsigned(path, name, "data_offsets", (*offsets_it)[1]));
  if (entry.data_end < entry.data_begin) {
    return Invalid(path, absl::StrCat("tensor '", name, "' ends (byte ", entry.data_end,
                                      ") before it begins (byte ", entry.data_begin, ")"));
  }

  const auto count = CheckedNumElements(entry.shape);
  const uint64_t element_bytes = DTypeSize(entry.dtype);
  if (!count || static_cast<uint64_t>(*count) > UINT64_MAX / element_bytes) {
    return Invalid(path, absl::StrCat("tensor '", name, "': shape ", ShapeToString(entry.shape),
                                      " overflows 64 bits"));
  }
  const uint64_t expected_bytes = static_cast<uint64_t>(*count) * element_bytes;
  if (expected_bytes != entry.data_end - entry.data_begin) {
    return Invalid(
        path, absl::StrCat("tensor '", name, "': shape ", ShapeToString(entry.shape), " of ",
                           DTypeName(entry.dtype), " needs ", expected_bytes,
                           " bytes but data_offsets span ", entry.data_end - entry.data_begin));
  }
  return entry;
}

absl::StatusOr<std::map<std::string, std::string>> ParseMetadata(const std::filesystem::path& path,
                                                                 const json& value) {
  if (!value.is_object()) return Invalid(path, "__metadata__ is not a JSON object");
  std::map<std::string, std::string> metadata;
  for (const auto& [key, item] : value.items()) {
    if (!item.is_string()) {
      return Invalid(path, absl::StrCat("__metadata__ value of '", key, "' is not a string"));
    }
    metadata[key] = item.get<std::string>();
  }
  return metadata;
}

}  // namespace

absl::StatusOr<SafetensorsFile> SafetensorsFile::Open(const std::filesystem::path& path) {
  QUENCH_ASSIGN_OR_RETURN(auto file, MappedFile::Open(path));
  const auto bytes = file->bytes();
  return Parse(std::move(file), bytes, path);
}

absl::StatusOr<SafetensorsFile> SafetensorsFile::Parse(std::shared_ptr<const void> owner,
                                                       std::span<const std::byte> bytes,
                                                       const std::filesystem::path& path) {
  if (const auto pickle = DetectPickleCheckpoint(bytes); pickle.has_value()) {
    return PickleRefusal(path, *pickle);
  }
  if (bytes.size() < 8) {
    return Invalid(path,
                   absl::StrCat("file is ", bytes.size(),
                                " bytes, too short for a safetensors header (8-byte length)"));
  }
  uint64_t header_bytes = 0;
  for (int i = 7; i >= 0; --i) header_bytes = (header_bytes << 8) | static_cast<uint8_t>(bytes[i]);
  if (header_bytes > kMaxSafetensorsHeaderBytes) {
    return Invalid(path, absl::StrCat("header length ", header_bytes, " exceeds the ",
                                      kMaxSafetensorsHeaderBytes,
                                      "-byte limit (not a safetensors file, or corrupt)"));
  }
  if (header_bytes > bytes.size() - 8) {
    return Invalid(path, absl::StrCat("header length ", header_bytes, " runs past the end of the ",
                                      bytes.size(), "-byte file (truncated?)"));
  }
  if (header_bytes == 0 || static_cast<char>(bytes[8]) != '{') {
    return Invalid(path, "the header does not start with '{' (not a safetensors file)");
  }
  const absl::string_view header_text(reinterpret_cast<const char*>(bytes.data() + 8),
                                      header_bytes);
  QUENCH_ASSIGN_OR_RETURN(json header, ParseHeaderJson(path, header_text));

  SafetensorsFile result;
  result.header_bytes_ = header_bytes;
  result.data_offset_ = 8 + header_bytes;
  const uint64_t data_bytes = bytes.size() - result.data_offset_;
  for (const auto& [key, value] : header.items()) {
    if (key == "__metadata__") {
      QUENCH_ASSIGN_OR_RETURN(result.metadata_, ParseMetadata(path, value));
      continue;
    }
    QUENCH_ASSIGN_OR_RETURN(auto entry, ParseEntry(path, key, value));
    if (entry.data_end > data_bytes) {
      return Invalid(path, absl::StrCat("tensor '", key, "' ends at byte ", entry.data_end,
                                        " past the data (size ", data_bytes, ")"));
    }
    result.entries_.push_back(std::move(entry));
  }

  // The data section must be exactly the tensors, back to back: no overlaps, holes or tail.
  std::sort(result.entries_.begin(), result.entries_.end(), [](const auto& a, const auto& b) {
    return std::tie(a.data_begin, a.data_end) < std::tie(b.data_begin, b.data_end);
  });
  uint64_t expected_begin = 0;
  const SafetensorsEntry* previous = nullptr;
  for (const auto& entry : result.entries_) {
    if (entry.data_begin < expected_begin) {
      return Invalid(
          path, absl::StrCat("tensor '", entry.name, "' (bytes ", entry.data_begin, "..",
                             entry.data_end, ") overlaps tensor '", previous->name, "' (bytes ",
                             previous->data_begin, "..", previous->data_end, ")"));
    }
    if (entry.data_begin > expected_begin) {
      return Invalid(
          path, absl::StrCat("unused bytes ", expected_begin, "..", entry.data_begin,
                             " before tensor '", entry.name, "' (tensors must be contiguous)"));
    }
    expected_begin = entry.data_end;
    previous = &entry;
  }
  if (expected_begin != data_bytes) {
    return Invalid(path, absl::StrCat(data_bytes - expected_begin,
                                      " trailing bytes after the last tensor (data is ", data_bytes,
                                      " bytes, tensors end at ", expected_begin, ")"));
  }
  for (size_t i = 0; i < result.entries_.size(); ++i) result.index_[result.entries_[i].name] = i;
  result.owner_ = std::move(owner);
  result.bytes_ = bytes;
  result.path_ = path;
  return result;
}

const SafetensorsEntry* SafetensorsFile::Find(absl::string_view name) const {
  const auto it = index_.find(name);
  return it == index_.end() ? nullptr : &entries_[it->second];
}

Tensor SafetensorsFile::View(const SafetensorsEntry& entry) const {
  const std::byte* data = bytes_.data() + data_offset_ + entry.data_begin;
  return Tensor::View(entry.dtype, entry.shape, data, owner_);
}

}  // namespace quench
