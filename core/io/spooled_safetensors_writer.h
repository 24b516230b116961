// Writes a safetensors file whose tensors are not known in advance. Each tensor's bytes go to an
// unnamed spool file beside the output as it is added, so the caller holds one tensor at a time;
// Finish() writes the header and copies the spool after it under a temporary name, then renames
// it into place. A failure or crash leaves no partial output behind.
#pragma once

#include <cstdio>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "core/io/safetensors_writer.h"
#include "core/tensor/tensor.h"

namespace quench {

class SpooledSafetensorsWriter {
 public:
  static absl::StatusOr<SpooledSafetensorsWriter> Create(const std::filesystem::path& path);

  // Appends a tensor; names must be unique (checked at Finish).
  absl::Status Add(const std::string& name, const Tensor& tensor);

  absl::Status Finish(const std::map<std::string, std::string>& metadata);

 private:
  struct CloseFile {
    void operator()(FILE* file) const { std::fclose(file); }
  };
  SpooledSafetensorsWriter(std::filesystem::path path, FILE* spool)
      : path_(std::move(path)), spool_(spool) {}

  std::filesystem::path path_;
  std::unique_ptr<FILE, CloseFile> spool_;
  std::vector<SafetensorsTensorSpec> tensors_;
  std::vector<uint64_t> sizes_;
};

}  // namespace quench
