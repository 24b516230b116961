#include "core/report/model_size.h"

#include <map>

#include "core/tensor/dtype.h"
#include "core/tensor/tensor.h"

namespace quench {
namespace {

bool IsWeightFile(const std::filesystem::path& path) {
  return path.extension() == ".safetensors" || path.extension() == ".gguf";
}

}  // namespace

CheckpointSize MeasureCheckpoint(const Checkpoint& checkpoint) {
  CheckpointSize size;
  std::map<std::string, uint64_t> bytes_by_dtype;
  for (const SafetensorsFile& file : checkpoint.files()) {
    std::error_code error;
    const uint64_t bytes = std::filesystem::file_size(file.path(), error);
    if (!error) size.bytes += bytes;
  }
  for (const std::string& name : checkpoint.TensorNames()) {
    if (checkpoint.aliases().count(name) != 0) continue;  // a tied tensor's second name
    const SafetensorsEntry* entry = checkpoint.FindEntry(name);
    if (entry == nullptr) continue;
    size.parameters += static_cast<uint64_t>(CheckedNumElements(entry->shape).value_or(0));
    bytes_by_dtype[std::string(DTypeName(entry->dtype))] += entry->data_end - entry->data_begin;
  }
  uint64_t most = 0;
  for (const auto& [dtype, bytes] : bytes_by_dtype) {
    if (bytes > most) {
      most = bytes;
      size.dtype = dtype;
    }
  }
  return size;
}

uint64_t WeightFileBytes(const std::filesystem::path& path) {
  // Sizes for a report: an unreadable file counts as 0 rather than failing the job.
  std::error_code error;
  if (std::filesystem::is_regular_file(path, error)) {
    const uintmax_t size = std::filesystem::file_size(path, error);
    return error ? 0 : size;
  }
  uint64_t bytes = 0;
  for (auto it = std::filesystem::recursive_directory_iterator(path, error);
       !error && it != std::filesystem::recursive_directory_iterator(); it.increment(error)) {
    std::error_code entry_error;
    if (!it->is_regular_file(entry_error) || !IsWeightFile(it->path())) continue;
    const uintmax_t size = it->file_size(entry_error);
    if (!entry_error) bytes += size;
  }
  return bytes;
}

}  // namespace quench
