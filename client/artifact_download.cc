#include "client/artifact_download.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <iostream>
#include <thread>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "client/job_format.h"
#include "client/progress.h"
#include "core/util/atomic_file.h"
#include "core/util/crc32c.h"
#include "core/util/sha256.h"
#include "core/util/status_macros.h"

namespace quench::cli {
namespace {

namespace fs = std::filesystem;

absl::Status IoError(const fs::path& path, absl::string_view what) {
  return absl::DataLossError(absl::StrCat(path.string(), ": ", what, ": ", std::strerror(errno)));
}

// The .part file, open for appending at `offset` (what is past it is dropped).
class PartFile {
 public:
  ~PartFile() {
    if (fd_ >= 0) ::close(fd_);
  }

  absl::Status Open(const fs::path& path, uint64_t offset) {
    path_ = path;
    fd_ = ::open(path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    if (fd_ < 0) return IoError(path, "cannot open");
    if (::ftruncate(fd_, static_cast<off_t>(offset)) != 0) return IoError(path, "cannot truncate");
    if (::lseek(fd_, static_cast<off_t>(offset), SEEK_SET) < 0) return IoError(path, "cannot seek");
    return absl::OkStatus();
  }

  absl::Status Append(const std::string& data) {
    size_t written = 0;
    while (written < data.size()) {
      const ssize_t n = ::write(fd_, data.data() + written, data.size() - written);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return IoError(path_, "write failed");
      written += static_cast<size_t>(n);
    }
    return absl::OkStatus();
  }

  absl::Status SyncAndClose() {
    const bool synced = ::fsync(fd_) == 0;
    const bool closed = ::close(fd_) == 0;
    fd_ = -1;
    if (!synced || !closed) return IoError(path_, "fsync failed");
    return absl::OkStatus();
  }

 private:
  fs::path path_;
  int fd_ = -1;
};

// The first `size` bytes of `path` into `sha`: a resumed download's digest covers them too.
absl::Status HashPrefix(const fs::path& path, uint64_t size, Sha256& sha) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return IoError(path, "cannot read");
  std::vector<char> buffer(1 << 20);
  while (size > 0) {
    const auto want = static_cast<std::streamsize>(std::min<uint64_t>(size, buffer.size()));
    if (!in.read(buffer.data(), want)) {
      return absl::DataLossError(
          absl::StrCat(path.string(), ": cannot read its first ", size, " bytes"));
    }
    sha.Update(buffer.data(), static_cast<size_t>(want));
    size -= static_cast<uint64_t>(want);
  }
  return absl::OkStatus();
}

// True when `path` already holds the artifact.
bool AlreadyPresent(const fs::path& path, const v1::Artifact& artifact) {
  std::error_code error;
  if (!fs::is_regular_file(path, error) || fs::file_size(path, error) != artifact.size_bytes()) {
    return false;
  }
  const absl::StatusOr<std::string> digest = Sha256FileHex(path);
  return digest.ok() && *digest == absl::AsciiStrToLower(artifact.sha256());
}

// Reconnections to a coordinator that went away before a download gives up (1+2+4+8+16 s).
constexpr int kMaxDownloadReconnects = 5;

// Ends the byte bar however the download ends, so an error message starts on its own line.
struct FinishProgress {
  ProgressReporter& progress;
  ~FinishProgress() { progress.Finish(); }
};

// Streams [offset, size) of the artifact into `part` and `sha`, advancing `offset` past every
// chunk kept (also when the stream then fails).
absl::Status Receive(v1::JobService::Stub& stub, const ServiceConnection& connection,
                     const std::string& job_id, const v1::Artifact& artifact, uint64_t& offset,
                     PartFile& part, Sha256& sha, ProgressReporter& progress) {
  grpc::ClientContext context;
  // No deadline: a large file over a slow link takes what it takes.
  QUENCH_RETURN_IF_ERROR(PrepareContext(connection, context, std::nullopt));
  v1::DownloadArtifactRequest request;
  request.set_job_id(job_id);
  request.set_name(artifact.name());
  request.set_offset(offset);
  std::unique_ptr<grpc::ClientReader<v1::DownloadArtifactResponse>> reader =
      stub.DownloadArtifact(&context, request);
  const std::string expected_sha = absl::AsciiStrToLower(artifact.sha256());
  // Rate and ETA from this attempt's bytes: a resumed prefix arrived long before.
  const uint64_t first_offset = offset;
  const auto start = std::chrono::steady_clock::now();
  auto last_draw = std::chrono::steady_clock::time_point{};
  v1::DownloadArtifactResponse chunk;
  absl::Status failure;
  while (failure.ok() && reader->Read(&chunk)) {
    if (chunk.total_bytes() != artifact.size_bytes() ||
        absl::AsciiStrToLower(chunk.sha256()) != expected_sha) {
      failure = absl::DataLossError(
          absl::StrCat(artifact.name(), ": the chunks describe ", chunk.total_bytes(),
                       " bytes with sha256 ", chunk.sha256(), " but the job lists ",
                       artifact.size_bytes(), " bytes with sha256 ", artifact.sha256()));
    } else if (chunk.offset() != offset || chunk.data().size() > artifact.size_bytes() - offset) {
      failure = absl::DataLossError(
          absl::StrCat(artifact.name(), ": a chunk of ", chunk.data().size(), " bytes at byte ",
                       chunk.offset(), " where byte ", offset, " was due"));
    } else if (Crc32c(chunk.data().data(), chunk.data().size()) != chunk.crc32c()) {
      failure = absl::DataLossError(absl::StrCat(artifact.name(), ": the chunk at byte ", offset,
                                                 " failed its CRC-32C check"));
    } else {
      failure = part.Append(chunk.data());
      if (failure.ok()) {
        sha.Update(chunk.data().data(), chunk.data().size());
        offset += chunk.data().size();
        // A redraw per chunk would flood a slow terminal.
        const auto now = std::chrono::steady_clock::now();
        if (now - last_draw > std::chrono::milliseconds(100) || offset == artifact.size_bytes()) {
          const double seconds = std::chrono::duration<double>(now - start).count();
          const double rate = seconds > 0 ? (offset - first_offset) / seconds : 0.0;
          progress.Update(static_cast<int64_t>(offset), static_cast<int64_t>(artifact.size_bytes()),
                          absl::StrCat(FormatBytes(rate), "/s"),
                          rate > 0 ? (artifact.size_bytes() - offset) / rate : -1.0);
          last_draw = now;
        }
      }
    }
  }
  if (!failure.ok()) {
    context.TryCancel();  // Finish() would otherwise wait for the rest of the stream
    reader->Finish().IgnoreError();
    return failure;
  }
  const grpc::Status status = reader->Finish();
  if (!status.ok()) return FromGrpcStatus(status, connection);
  return absl::OkStatus();
}

}  // namespace

absl::Status CheckArtifactName(absl::string_view name) {
  bool safe = !name.empty() && name.find('\0') == absl::string_view::npos &&
              name.find('\\') == absl::string_view::npos;
  const fs::path path{std::string(name)};
  if (path.is_absolute() || path.has_root_path()) safe = false;
  for (const fs::path& component : path) {
    if (component.empty() || component == "." || component == "..") safe = false;
  }
  if (safe) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat("refusing artifact name \"", name, "\": not a plain relative path"));
}

absl::StatusOr<DownloadedArtifact> DownloadArtifact(v1::JobService::Stub& stub,
                                                    const ServiceConnection& connection,
                                                    const std::string& job_id,
                                                    const v1::Artifact& artifact,
                                                    const fs::path& out_dir, bool show_progress) {
  QUENCH_RETURN_IF_ERROR(CheckArtifactName(artifact.name()));
  DownloadedArtifact result;
  result.name = artifact.name();
  result.path = out_dir / fs::path(artifact.name());
  result.size_bytes = artifact.size_bytes();
  result.sha256 = artifact.sha256();
  std::error_code error;
  fs::create_directories(result.path.parent_path(), error);
  if (error) {
    return absl::DataLossError(
        absl::StrCat("cannot create ", result.path.parent_path().string(), ": ", error.message()));
  }
  if (AlreadyPresent(result.path, artifact)) {
    result.already_present = true;
    return result;
  }

  fs::path part_path = result.path;
  part_path += ".part";
  uint64_t offset = 0;
  if (fs::is_regular_file(part_path, error)) offset = fs::file_size(part_path, error);
  // Longer than the artifact: not a prefix of it; start again.
  if (error || offset > artifact.size_bytes()) offset = 0;
  result.resumed_from = offset;
  PartFile part;
  QUENCH_RETURN_IF_ERROR(part.Open(part_path, offset));
  Sha256 sha;
  QUENCH_RETURN_IF_ERROR(HashPrefix(part_path, offset, sha));

  ProgressReporter progress(artifact.name(), "bytes", show_progress);
  FinishProgress finish_progress{progress};
  // A coordinator that goes away (a restart) is waited for: the stream is opened again from
  // the last verified byte, a few times, backing off.
  for (int failures = 0; offset < artifact.size_bytes();) {
    const uint64_t before = offset;
    const absl::Status received =
        Receive(stub, connection, job_id, artifact, offset, part, sha, progress);
    if (received.ok()) break;
    if (offset > before) failures = 0;
    if (!absl::IsUnavailable(received) || failures >= kMaxDownloadReconnects) {
      // Everything written was verified chunk by chunk: keep it for the next attempt.
      part.SyncAndClose().IgnoreError();
      const uint64_t kept = fs::file_size(part_path, error);
      if (error || kept == 0) return received;
      return absl::Status(received.code(),
                          absl::StrCat(received.message(), " (", kept, " verified bytes stay in ",
                                       part_path.string(), "; run again to resume)"));
    }
    const int wait_s = 1 << failures;
    ++failures;
    progress.PrintLine(std::cerr,
                       absl::StrFormat("%s: lost the download at byte %d (%s); "
                                       "reconnecting in %ds",
                                       artifact.name(), offset, received.message(), wait_s));
    std::this_thread::sleep_for(std::chrono::seconds(wait_s));
  }
  QUENCH_RETURN_IF_ERROR(part.SyncAndClose());
  if (offset != artifact.size_bytes()) {
    return absl::DataLossError(absl::StrCat(artifact.name(), ": the download stopped at byte ",
                                            offset, " of ", artifact.size_bytes(),
                                            "; run again to resume"));
  }
  const std::string digest = sha.FinishHex();
  if (digest != absl::AsciiStrToLower(artifact.sha256())) {
    // Every chunk passed its CRC, so the .part itself is wrong (an older file's prefix, a
    // torn write): resuming from it would fail again.
    fs::remove(part_path, error);
    return absl::DataLossError(absl::StrCat(artifact.name(), ": sha256 of the download is ", digest,
                                            ", quenchd says ", artifact.sha256(), "; removed ",
                                            part_path.string()));
  }
  fs::rename(part_path, result.path, error);
  if (error) {
    return absl::DataLossError(absl::StrCat("cannot rename ", part_path.string(), " to ",
                                            result.path.string(), ": ", error.message()));
  }
  QUENCH_RETURN_IF_ERROR(SyncDirectory(result.path.parent_path()));
  return result;
}

absl::StatusOr<std::vector<DownloadedArtifact>> DownloadJobArtifacts(
    v1::JobService::Stub& stub, const ServiceConnection& connection, const v1::Job& job,
    const fs::path& out_dir, const std::string& only_name, bool show_progress, std::ostream& log) {
  if (job.state() != v1::JOB_STATE_SUCCEEDED) {
    return absl::FailedPreconditionError(
        absl::StrCat("job ", job.job_id(), " is ", StateName(job.state()),
                     ": artifacts can be downloaded once it has SUCCEEDED"));
  }
  std::vector<const v1::Artifact*> wanted;
  std::vector<std::string> names;
  for (const v1::Artifact& artifact : job.artifacts()) {
    names.push_back(artifact.name());
    if (only_name.empty() || artifact.name() == only_name) wanted.push_back(&artifact);
  }
  if (wanted.empty() && !only_name.empty()) {
    return absl::NotFoundError(absl::StrCat("job ", job.job_id(), " has no artifact \"", only_name,
                                            "\"; it has: ", absl::StrJoin(names, ", ")));
  }
  std::vector<DownloadedArtifact> downloaded;
  for (const v1::Artifact* artifact : wanted) {
    QUENCH_ASSIGN_OR_RETURN(
        DownloadedArtifact result,
        DownloadArtifact(stub, connection, job.job_id(), *artifact, out_dir, show_progress));
    if (result.already_present) {
      log << result.path.string() << ": already downloaded\n";
    } else if (result.resumed_from > 0) {
      log << result.path.string() << ": " << FormatBytes(static_cast<double>(result.size_bytes))
          << ", resumed at " << FormatBytes(static_cast<double>(result.resumed_from)) << "\n";
    } else {
      log << result.path.string() << ": " << FormatBytes(static_cast<double>(result.size_bytes))
          << "\n";
    }
    log << std::flush;
    downloaded.push_back(std::move(result));
  }
  return downloaded;
}

}  // namespace quench::cli
