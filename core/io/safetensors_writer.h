// Writes safetensors files as a stream: the tensors are declared up front (the header holds
// every offset), then their bytes are appended in the declared order, in as many pieces as the
// caller likes. The file appears under its final name only when Finish() succeeds.
#pragma once

#include <filesystem>
#include <map>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "core/tensor/tensor.h"
#include "core/util/atomic_file.h"

namespace quench {

struct SafetensorsTensorSpec {
  std::string name;
  DType dtype = DType::kF32;
  Shape shape;
};

class SafetensorsWriter {
 public:
  static absl::StatusOr<SafetensorsWriter> Create(
      const std::filesystem::path& path, std::vector<SafetensorsTensorSpec> tensors,
      const std::map<std::string, std::string>& metadata);

  // Appends the next bytes of the current tensor; a piece may not cross into the next tensor.
  absl::Status Append(std::span<const std::byte> bytes);

  // Checks that every declared byte was written, then fsyncs and renames into place.
  absl::Status Finish();

 private:
  SafetensorsWriter(AtomicFileWriter file, std::vector<SafetensorsTensorSpec> tensors,
                    std::vector<uint64_t> sizes)
      : file_(std::move(file)), tensors_(std::move(tensors)), sizes_(std::move(sizes)) {}

  AtomicFileWriter file_;
  std::vector<SafetensorsTensorSpec> tensors_;
  std::vector<uint64_t> sizes_;
  size_t current_ = 0;            // index of the tensor being written
  uint64_t current_written_ = 0;  // its bytes written so far
};

// Writes whole tensors in the given order.
absl::Status WriteSafetensors(const std::filesystem::path& path,
                              const std::vector<std::pair<std::string, Tensor>>& tensors,
                              const std::map<std::string, std::string>& metadata = {});

}  // namespace quench
