// Writes a file under a temporary name in the same directory and renames it into place on
// Commit(), so readers never see a half-written file. Abandoned files are removed.
#pragma once

#include <cstdio>
#include <filesystem>
#include <span>
#include <string_view>
#include "absl/strings/string_view.h"

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace quench {

class AtomicFileWriter {
 public:
  static absl::StatusOr<AtomicFileWriter> Create(const std::filesystem::path& final_path);

  AtomicFileWriter(AtomicFileWriter&& other) noexcept;
  AtomicFileWriter& operator=(AtomicFileWriter&&) = delete;
  AtomicFileWriter(const AtomicFileWriter&) = delete;
  ~AtomicFileWriter();  // removes the temporary file unless committed

  absl::Status Write(std::span<const std::byte> bytes);
  absl::Status Write(absl::string_view text);
  uint64_t bytes_written() const { return bytes_written_; }

  // Flushes, fsyncs and renames the temporary file to the final path, then fsyncs the directory.
  absl::Status Commit();

 private:
  AtomicFileWriter(std::filesystem::path final_path, std::filesystem::path temp_path, FILE* file)
      : final_path_(std::move(final_path)), temp_path_(std::move(temp_path)), file_(file) {}

  std::filesystem::path final_path_;
  std::filesystem::path temp_path_;
  FILE* file_ = nullptr;
  uint64_t bytes_written_ = 0;
};

// fsyncs a directory, making renames and new entries in it durable.
absl::Status SyncDirectory(const std::filesystem::path& dir);

// Convenience: writes `contents` to `path` atomically.
absl::Status WriteFileAtomically(const std::filesystem::path& path, absl::string_view contents);

// Reads a whole (small) file into a string.
absl::StatusOr<std::string> ReadFileToString(const std::filesystem::path& path);

}  // namespace quench
