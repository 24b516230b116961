// Downloading a job's artifacts, resumably: bytes accumulate in "<name>.part" across attempts,
// each chunk is checked against its CRC-32C before it is kept, and the whole file against the
// server's sha256 before it takes its final name. A file already in place with the right size
// and digest is left alone.
#pragma once

#include <cstdint>
#include <filesystem>
#include <ostream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "client/service_client.h"

namespace quench::cli {

struct DownloadedArtifact {
  std::string name;
  std::filesystem::path path;
  uint64_t size_bytes = 0;
  std::string sha256;
  bool already_present = false;  // the file was there, verified: nothing fetched
  uint64_t resumed_from = 0;     // bytes an earlier attempt had left in the .part file
};

// A name that stays inside the output directory: relative, no "..", "." or empty components.
// The coordinator generates names, but a client writes only where it means to.
absl::Status CheckArtifactName(absl::string_view name);

// Fetches one artifact of `job_id` into `out_dir`/name (parent directories created). A byte
// progress bar on stderr when `show_progress`. On an error the verified bytes stay in the
// .part file for the next attempt, except on a sha256 mismatch, which removes it.
absl::StatusOr<DownloadedArtifact> DownloadArtifact(
    v1::JobService::Stub& stub, const ServiceConnection& connection, const std::string& job_id,
    const v1::Artifact& artifact, const std::filesystem::path& out_dir, bool show_progress);

// Every artifact of `job` (only `only_name` when it is not empty) into `out_dir`, a line per
// artifact on `log`. FAILED_PRECONDITION unless the job SUCCEEDED; NOT_FOUND for an unknown
// `only_name`.
absl::StatusOr<std::vector<DownloadedArtifact>> DownloadJobArtifacts(
    v1::JobService::Stub& stub, const ServiceConnection& connection, const v1::Job& job,
    const std::filesystem::path& out_dir, const std::string& only_name, bool show_progress,
    std::ostream& log);

}  // namespace quench::cli
