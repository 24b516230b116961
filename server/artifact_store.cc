#include "server/artifact_store.h"

#include <cstdio>
#include <memory>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "core/util/atomic_file.h"
#include "core/util/sha256.h"
#include "core/util/status_macros.h"

namespace quench::server {
namespace fs = std::filesystem;

namespace {

constexpr size_t kCopyChunk = size_t{1} << 20;

using File = std::unique_ptr<FILE, int (*)(FILE*)>;

File OpenFile(const fs::path& path, const char* mode) {
  return File(std::fopen(path.c_str(), mode), &std::fclose);
}

}  // namespace

bool IsSafeArtifactPath(const std::string& relative) {
  if (relative.empty()) return false;
  for (absl::string_view part : absl::StrSplit(relative, '/')) {
    if (part.empty() || part == "." || part == "..") return false;
    for (char c : part) {
      const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                      c == '-' || c == '_' || c == '.';
      if (!ok) return false;
    }
  }
  return true;
}

absl::StatusOr<ArtifactStore> ArtifactStore::Open(const fs::path& root) {
  std::error_code error;
  fs::create_directories(root, error);
  if (error) {
    return absl::PermissionDeniedError(
        absl::StrCat(root.string(), ": cannot create the artifact directory: ", error.message()));
  }
  return ArtifactStore(root);
}

absl::StatusOr<fs::path> ArtifactStore::PathOf(const std::string& job_id,
                                               const std::string& name) const {
  if (!IsSafeArtifactPath(job_id) || job_id.find('/') != std::string::npos ||
      !IsSafeArtifactPath(name)) {
    return absl::InvalidArgumentError(
        absl::StrCat("'", job_id, "' / '", name, "' is not a valid job id / artifact name"));
  }
  return root_ / job_id / name;
}

absl::Status ArtifactStore::RemoveJob(const std::string& job_id) const {
  if (!IsSafeArtifactPath(job_id) || job_id.find('/') != std::string::npos) {
    return absl::InvalidArgumentError(absl::StrCat("'", job_id, "' is not a valid job id"));
  }
  std::error_code error;
  fs::remove_all(root_ / job_id, error);
  if (error) {
    return absl::InternalError(
        absl::StrCat((root_ / job_id).string(), ": cannot remove: ", error.message()));
  }
  return absl::OkStatus();
}

absl::StatusOr<ArtifactRecord> ArtifactStore::Import(const std::string& job_id,
                                                     const std::string& name,
                                                     const fs::path& source) const {
  QUENCH_ASSIGN_OR_RETURN(const fs::path target, PathOf(job_id, name));
  File in = OpenFile(source, "rb");
  if (!in) return absl::NotFoundError(absl::StrCat(source.string(), ": cannot open"));
  std::error_code error;
  fs::create_directories(target.parent_path(), error);
  if (error) {
    return absl::ResourceExhaustedError(
        absl::StrCat(target.parent_path().string(), ": ", error.message()));
  }
  QUENCH_ASSIGN_OR_RETURN(AtomicFileWriter out, AtomicFileWriter::Create(target));
  Sha256 hash;
  std::vector<std::byte> buffer(kCopyChunk);
  size_t got;
  while ((got = std::fread(buffer.data(), 1, buffer.size(), in.get())) > 0) {
    hash.Update(buffer.data(), got);
    // A failed write (a full disk) returns here; the writer removes its temporary file.
    QUENCH_RETURN_IF_ERROR(out.Write(std::span(buffer.data(), got)));
  }
  if (std::ferror(in.get())) {
    return absl::DataLossError(absl::StrCat(source.string(), ": read error"));
  }
  const uint64_t size = out.bytes_written();
  QUENCH_RETURN_IF_ERROR(out.Commit());
  return ArtifactRecord{name, size, hash.FinishHex()};
}

absl::StatusOr<std::string> ArtifactStore::Read(const std::string& job_id, const std::string& name,
                                                uint64_t offset, uint64_t max_bytes) const {
  QUENCH_ASSIGN_OR_RETURN(const fs::path path, PathOf(job_id, name));
  File in = OpenFile(path, "rb");
  if (!in)
    return absl::NotFoundError(absl::StrCat("job ", job_id, " has no artifact '", name, "'"));
  if (std::fseek(in.get(), static_cast<long>(offset), SEEK_SET) != 0) {
    return absl::OutOfRangeError(absl::StrCat("offset ", offset, " is past the end of ", name));
  }
  std::string data(max_bytes, '\0');
  const size_t got = std::fread(data.data(), 1, data.size(), in.get());
  if (std::ferror(in.get()))
    return absl::DataLossError(absl::StrCat(path.string(), ": read error"));
  data.resize(got);
  return data;
}

}  // namespace quench::server
