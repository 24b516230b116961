// How the service commands show jobs: state names, JSON objects for --json, and the human
// summary of `quench status`.
#pragma once

#include <cstdint>
#include <optional>
#include <ostream>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "nlohmann/json.hpp"
#include "quench/v1/jobs.pb.h"

namespace quench::cli {

// JOB_STATE_SUCCEEDED → "SUCCEEDED".
std::string StateName(v1::JobState state);
// "succeeded", "SUCCEEDED" or "JOB_STATE_SUCCEEDED"; INVALID_ARGUMENT naming the states.
absl::StatusOr<v1::JobState> ParseState(absl::string_view name);
bool IsTerminal(v1::JobState state);

// Seconds since the epoch as local "YYYY-MM-DD HH:MM:SS"; "-" for 0 (unset).
std::string FormatUnixTime(int64_t unix_s);

// [{"name", "size_bytes", "sha256"}].
nlohmann::ordered_json ArtifactsJson(const v1::Job& job);
// report_json parsed; nullopt when absent or not JSON.
std::optional<nlohmann::ordered_json> ParseReport(const v1::Job& job);
// Every field of the job; "report" (parsed) only with `with_report`.
nlohmann::ordered_json JobJson(const v1::Job& job, bool with_report);
// One WatchJob event: job_id, state, message, progress, finished_blocks, total_blocks, eta_s,
// layers.
nlohmann::ordered_json EventJson(const v1::WatchJobResponse& event);

// A finished block's layer errors on one line, the names' common prefix said once:
// "model.layers.3: self_attn.q_proj 1.2e-03, ... (relative output error, int4 g128)".
std::string LayerErrorsLine(const v1::WatchJobResponse& event);

// `quench status`: state, message, progress, times, artifacts and, when the report has them,
// its evaluation results.
void PrintJob(std::ostream& out, const v1::Job& job);

}  // namespace quench::cli
