#include "core/util/atomic_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace quench {

absl::StatusOr<AtomicFileWriter> AtomicFileWriter::Create(const std::filesystem::path& final_path) {
  std::filesystem::path temp_path = final_path;
  temp_path += absl::StrCat(".tmp.", ::getpid());
  FILE* file = std::fopen(temp_path.c_str(), "wb");
  if (file == nullptr) {
    return absl::PermissionDeniedError(
        absl::StrCat(temp_path.string(), ": cannot create: ", std::strerror(errno)));
  }
  return AtomicFileWriter(final_path, std::move(temp_path), file);
}

AtomicFileWriter::AtomicFileWriter(AtomicFileWriter&& other) noexcept
    : final_path_(std::move(other.final_path_)),
      temp_path_(std::move(other.temp_path_)),
      file_(other.file_),
      bytes_written_(other.bytes_written_) {
  other.file_ = nullptr;
  other.temp_path_.clear();
}

AtomicFileWriter::~AtomicFileWriter() {
  if (file_ != nullptr) std::fclose(file_);
  if (!temp_path_.empty()) {
    std::error_code ignored;
    std::filesystem::remove(temp_path_, ignored);
  }
}

absl::Status AtomicFileWriter::Write(std::span<const std::byte> bytes) {
  if (file_ == nullptr) return absl::FailedPreconditionError("write after commit");
  if (!bytes.empty() && std::fwrite(bytes.data(), 1, bytes.size(), file_) != bytes.size()) {
    return absl::DataLossError(
        absl::StrCat(temp_path_.string(), ": write failed: ", std::strerror(errno)));
  }
  bytes_written_ += bytes.size();
  return absl::OkStatus();
}

absl::Status AtomicFileWriter::Write(absl::string_view text) {
  return Write(std::as_bytes(std::span<const char>(text.data(), text.size())));
}

absl::Status AtomicFileWriter::Commit() {
  if (file_ == nullptr) return absl::FailedPreconditionError("commit twice");
  const bool flushed = std::fflush(file_) == 0 && ::fsync(::fileno(file_)) == 0;
  const bool closed = std::fclose(file_) == 0;
  file_ = nullptr;
  if (!flushed || !closed) {
    return absl::DataLossError(
        absl::StrCat(temp_path_.string(), ": flush failed: ", std::strerror(errno)));
  }
  std::error_code error;
  std::filesystem::rename(temp_path_, final_path_, error);
  if (error) {
    return absl::DataLossError(absl::StrCat("cannot rename ", temp_path_.string(), " to ",
                                            final_path_.string(), ": ", error.message()));
  }
  temp_path_.clear();
  // The rename is durable only once the directory entry is on disk too.
  return SyncDirectory(final_path_.parent_path().empty() ? std::filesystem::path(".")
                                                         : final_path_.parent_path());
}

absl::Status SyncDirectory(const std::filesystem::path& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY);
  if (fd < 0) {
    return absl::DataLossError(
        absl::StrCat(dir.string(), ": cannot open to sync: ", std::strerror(errno)));
  }
  const bool synced = ::fsync(fd) == 0;
  ::close(fd);
  if (!synced) {
    return absl::DataLossError(
        absl::StrCat(dir.string(), ": fsync failed: ", std::strerror(errno)));
  }
  return absl::OkStatus();
}

absl::Status WriteFileAtomically(const std::filesystem::path& path, absl::string_view contents) {
  auto writer = AtomicFileWriter::Create(path);
  if (!writer.ok()) return writer.status();
  if (auto status = writer->Write(contents); !status.ok()) return status;
  return writer->Commit();
}

absl::StatusOr<std::string> ReadFileToString(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return std::filesystem::exists(path)
               ? absl::PermissionDeniedError(absl::StrCat(path.string(), ": cannot read"))
               : absl::NotFoundError(absl::StrCat(path.string(), ": no such file"));
  }
  std::ostringstream contents;
  contents << in.rdbuf();
  return contents.str();
}

}  // namespace quench
