#include "core/io/safetensors_writer.h"

#include <set>

#include "absl/strings/str_cat.h"
#include "core/util/status_macros.h"
#include "nlohmann/json.hpp"

namespace quench {

absl::StatusOr<SafetensorsWriter> SafetensorsWriter::Create(
    const std::filesystem::path& path, std::vector<SafetensorsTensorSpec> tensors,
    const std::map<std::string, std::string>& metadata) {
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  std::vector<uint64_t> sizes;
  std::set<std::string> names;
  uint64_t offset = 0;
  for (const auto& spec : tensors) {
    if (spec.name.empty() || spec.name == "__metadata__" || !names.insert(spec.name).second) {
      return absl::InvalidArgumentError(absl::StrCat(path.string(), ": tensor name '", spec.name,
                                                     "' is empty, reserved or repeated"));
    }
    const auto count = CheckedNumElements(spec.shape);
    if (!count) {
      return absl::InvalidArgumentError(absl::StrCat(path.string(), ": tensor '", spec.name,
                                                     "' has invalid shape ",
                                                     ShapeToString(spec.shape)));
    }
    const uint64_t bytes = static_cast<uint64_t>(*count) * DTypeSize(spec.dtype);
    header[spec.name] = {{"dtype", std::string(DTypeName(spec.dtype))},
                         {"shape", spec.shape},
                         {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
    sizes.push_back(bytes);
  }
  std::string header_text = header.dump();
  // Pad with spaces so the data section starts 8-byte aligned (as safetensors itself does).
  header_text.append((8 - header_text.size() % 8) % 8, ' ');

  QUENCH_ASSIGN_OR_RETURN(auto file, AtomicFileWriter::Create(path));
  std::array<std::byte, 8> length{};
  for (int i = 0; i < 8; ++i) {
    length[i] = static_cast<std::byte>((header_text.size() >> (8 * i)) & 0xff);
  }
  QUENCH_RETURN_IF_ERROR(file.Write(length));
  QUENCH_RETURN_IF_ERROR(file.Write(header_text));
  SafetensorsWriter writer(std::move(file), std::move(tensors), std::move(sizes));
  return writer;
}

absl::Status SafetensorsWriter::Append(std::span<const std::byte> bytes) {
  while (current_ < sizes_.size() && current_written_ == sizes_[current_]) {
    ++current_;
    current_written_ = 0;
  }
  if (bytes.empty()) return absl::OkStatus();
  if (current_ >= sizes_.size() || bytes.size() > sizes_[current_] - current_written_) {
    return absl::FailedPreconditionError(absl::StrCat(
        "safetensors writer: ", bytes.size(), " bytes appended past the end of tensor '",
        current_ < tensors_.size() ? tensors_[current_].name : "(none left)", "'"));
  }
  QUENCH_RETURN_IF_ERROR(file_.Write(bytes));
  current_written_ += bytes.size();
  return absl::OkStatus();
}

absl::Status SafetensorsWriter::Finish() {
  QUENCH_RETURN_IF_ERROR(Append({}));
  if (current_ != sizes_.size()) {
    return absl::FailedPreconditionError(
        absl::StrCat("safetensors writer: tensor '", tensors_[current_].name, "' got ",
                     current_written_, " of its ", sizes_[current_], " bytes"));
  }
  return file_.Commit();
}

absl::Status WriteSafetensors(const std::filesystem::path& path,
                              const std::vector<std::pair<std::string, Tensor>>& tensors,
                              const std::map<std::string, std::string>& metadata) {
  std::vector<SafetensorsTensorSpec> specs;
  for (const auto& [name, tensor] : tensors)
    specs.push_back({name, tensor.dtype(), tensor.shape()});
  QUENCH_ASSIGN_OR_RETURN(auto writer, SafetensorsWriter::Create(path, std::move(specs), metadata));
  for (const auto& [name, tensor] : tensors) QUENCH_RETURN_IF_ERROR(writer.Append(tensor.bytes()));
  return writer.Finish();
}

}  // namespace quench
