#include "core/io/spooled_safetensors_writer.h"

#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "core/util/status_macros.h"

namespace quench {
namespace {

constexpr size_t kCopyChunk = size_t{16} << 20;

absl::Status SpoolError(const std::filesystem::path& path, const char* what) {
  return absl::DataLossError(
      absl::StrCat(path.string(), ": spool ", what, " failed: ", std::strerror(errno)));
}

}  // namespace

absl::StatusOr<SpooledSafetensorsWriter> SpooledSafetensorsWriter::Create(
    const std::filesystem::path& path) {
  // Beside the output (same filesystem, same free space), unlinked at once so nothing is left
  // behind whatever happens to this process.
  std::string name = path.string() + ".spool.XXXXXX";
  const int fd = ::mkstemp(name.data());
  if (fd < 0) {
    return absl::PermissionDeniedError(
        absl::StrCat(name, ": cannot create: ", std::strerror(errno)));
  }
  ::unlink(name.c_str());
  FILE* spool = ::fdopen(fd, "w+b");
  if (spool == nullptr) {
    ::close(fd);
    return SpoolError(path, "open");
  }
  return SpooledSafetensorsWriter(path, spool);
}

absl::Status SpooledSafetensorsWriter::Add(const std::string& name, const Tensor& tensor) {
  const auto bytes = tensor.bytes();
  if (!bytes.empty() && std::fwrite(bytes.data(), 1, bytes.size(), spool_.get()) != bytes.size())
    return SpoolError(path_, "write");
  tensors_.push_back({name, tensor.dtype(), tensor.shape()});
  sizes_.push_back(bytes.size());
  return absl::OkStatus();
}

absl::Status SpooledSafetensorsWriter::Finish(const std::map<std::string, std::string>& metadata) {
  if (std::fflush(spool_.get()) != 0 || std::fseek(spool_.get(), 0, SEEK_SET) != 0)
    return SpoolError(path_, "rewind");
  QUENCH_ASSIGN_OR_RETURN(auto writer, SafetensorsWriter::Create(path_, tensors_, metadata));
  std::vector<std::byte> buffer;
  for (uint64_t size : sizes_) {
    // Tensor by tensor: a piece handed to the writer may not cross into the next tensor.
    for (uint64_t done = 0; done < size;) {
      const size_t piece = static_cast<size_t>(std::min<uint64_t>(kCopyChunk, size - done));
      buffer.resize(piece);
      if (std::fread(buffer.data(), 1, piece, spool_.get()) != piece)
        return SpoolError(path_, "read");
      QUENCH_RETURN_IF_ERROR(writer.Append(buffer));
      done += piece;
    }
  }
  return writer.Finish();
}

}  // namespace quench
