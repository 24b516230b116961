#include "client/job_format.h"

#include <algorithm>
#include <ctime>
#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "client/progress.h"

namespace quench::cli {
namespace {

constexpr absl::string_view kStatePrefix = "JOB_STATE_";

// Report values as people read them: integers whole, reals to 6 significant digits.
std::string ReportValue(const nlohmann::ordered_json& value) {
  if (value.is_number_integer() || value.is_number_unsigned()) return value.dump();
  if (value.is_number_float()) return absl::StrFormat("%.6g", value.get<double>());
  if (value.is_string()) return value.get<std::string>();
  return value.dump();
}

}  // namespace

std::string StateName(v1::JobState state) {
  std::string name = v1::JobState_Name(state);
  if (name.empty()) return absl::StrCat("STATE_", static_cast<int>(state));  // newer server
  if (absl::StartsWith(name, kStatePrefix)) name.erase(0, kStatePrefix.size());
  return name;
}

absl::StatusOr<v1::JobState> ParseState(absl::string_view name) {
  std::string upper = absl::AsciiStrToUpper(name);
  if (!absl::StartsWith(upper, kStatePrefix)) upper = absl::StrCat(kStatePrefix, upper);
  v1::JobState state = v1::JOB_STATE_UNSPECIFIED;
  if (v1::JobState_Parse(upper, &state) && state != v1::JOB_STATE_UNSPECIFIED) return state;
  return absl::InvalidArgumentError(absl::StrCat(
      "unknown job state \"", name, "\"; one of queued, running, succeeded, failed, cancelled"));
}

bool IsTerminal(v1::JobState state) {
  return state == v1::JOB_STATE_SUCCEEDED || state == v1::JOB_STATE_FAILED ||
         state == v1::JOB_STATE_CANCELLED;
}

std::string FormatUnixTime(int64_t unix_s) {
  if (unix_s == 0) return "-";
  const std::time_t time = static_cast<std::time_t>(unix_s);
  std::tm local{};
  if (::localtime_r(&time, &local) == nullptr) return absl::StrCat(unix_s);
  char text[32];
  const size_t size = std::strftime(text, sizeof(text), "%Y-%m-%d %H:%M:%S", &local);
  return std::string(text, size);
}

nlohmann::ordered_json ArtifactsJson(const v1::Job& job) {
  nlohmann::ordered_json artifacts = nlohmann::ordered_json::array();
  for (const v1::Artifact& artifact : job.artifacts()) {
    artifacts.push_back({{"name", artifact.name()},
                         {"size_bytes", artifact.size_bytes()},
                         {"sha256", artifact.sha256()}});
  }
  return artifacts;
}

std::optional<nlohmann::ordered_json> ParseReport(const v1::Job& job) {
  if (job.report_json().empty()) return std::nullopt;
  nlohmann::ordered_json report =
      nlohmann::ordered_json::parse(job.report_json(), nullptr, /*allow_exceptions=*/false);
  if (report.is_discarded()) return std::nullopt;
  return report;
}

nlohmann::ordered_json JobJson(const v1::Job& job, bool with_report) {
  nlohmann::ordered_json out;
  out["job_id"] = job.job_id();
  out["state"] = StateName(job.state());
  out["message"] = job.message();
  out["progress"] = job.progress();
  out["finished_blocks"] = job.finished_blocks();
  out["total_blocks"] = job.total_blocks();
  out["created_unix_s"] = job.created_unix_s();
  out["updated_unix_s"] = job.updated_unix_s();
  out["request_id"] = job.request_id();
  out["artifacts"] = ArtifactsJson(job);
  if (with_report) {
    if (auto report = ParseReport(job)) out["report"] = std::move(*report);
  }
  return out;
}

nlohmann::ordered_json EventJson(const v1::WatchJobResponse& event) {
  const v1::Job& job = event.job();
  nlohmann::ordered_json out;
  out["job_id"] = job.job_id();
  out["state"] = StateName(job.state());
  out["message"] = event.message().empty() ? job.message() : event.message();
  out["progress"] = job.progress();
  out["finished_blocks"] = job.finished_blocks();
  out["total_blocks"] = job.total_blocks();
  out["eta_s"] = event.eta_s();
  nlohmann::ordered_json layers = nlohmann::ordered_json::array();
  for (const v1::LayerError& layer : event.layers()) {
    layers.push_back({{"name", layer.name()},
                      {"grid", layer.grid()},
                      {"relative_output_error", layer.relative_output_error()},
                      {"relative_weight_error", layer.relative_weight_error()}});
  }
  out["layers"] = std::move(layers);
  // The job's own message too, when the event's line replaced it above (a FAILED job's reason).
  if (!event.message().empty() && !job.message().empty() && event.message() != job.message()) {
    out["job_message"] = job.message();
  }
  return out;
}

std::string LayerErrorsLine(const v1::WatchJobResponse& event) {
  const auto& layers = event.layers();
  if (layers.empty()) return "";
  // The longest common prefix ending in '.', so "model.layers.3." is said once.
  std::string prefix = layers[0].name();
  for (const v1::LayerError& layer : layers) {
    const auto mismatch =
        std::mismatch(prefix.begin(), prefix.end(), layer.name().begin(), layer.name().end());
    prefix.erase(mismatch.first, prefix.end());
  }
  const size_t dot = prefix.rfind('.');
  prefix = dot == std::string::npos ? "" : prefix.substr(0, dot + 1);

  // Without calibration the output error is -1: the weight error is all there is.
  const bool output_errors = std::all_of(layers.begin(), layers.end(), [](const auto& layer) {
    return layer.relative_output_error() >= 0;
  });
  std::set<std::string> grids;
  std::vector<std::string> parts;
  for (const v1::LayerError& layer : layers) {
    grids.insert(layer.grid());
    parts.push_back(absl::StrFormat(
        "%s %.2e", layer.name().substr(prefix.size()),
        output_errors ? layer.relative_output_error() : layer.relative_weight_error()));
  }
  std::string what = output_errors ? "relative output error" : "relative weight error";
  if (grids.size() == 1 && !grids.begin()->empty()) absl::StrAppend(&what, ", ", *grids.begin());
  if (!prefix.empty()) prefix.pop_back();  // the trailing '.'
  return absl::StrCat(prefix.empty() ? "" : absl::StrCat(prefix, ": "), absl::StrJoin(parts, ", "),
                      " (", what, ")");
}

void PrintJob(std::ostream& out, const v1::Job& job) {
  const auto row = [&out](absl::string_view label, const std::string& value) {
    out << absl::StrFormat("%-10s %s\n", label, value);
  };
  row("job", job.job_id());
  row("state", StateName(job.state()));
  if (!job.message().empty()) row("message", job.message());
  std::string progress = absl::StrFormat("%.0f%%", 100.0 * job.progress());
  if (job.total_blocks() > 0) {
    absl::StrAppend(&progress,
                    absl::StrFormat(" (%d/%d blocks)", job.finished_blocks(), job.total_blocks()));
  }
  row("progress", progress);
  row("created", FormatUnixTime(job.created_unix_s()));
  row("updated", FormatUnixTime(job.updated_unix_s()));
  if (!job.request_id().empty()) row("request", job.request_id());

  if (!job.artifacts().empty()) {
    size_t width = 0;
    for (const v1::Artifact& artifact : job.artifacts()) {
      width = std::max(width, artifact.name().size());
    }
    out << "artifacts\n";
    for (const v1::Artifact& artifact : job.artifacts()) {
      out << absl::StrFormat("  %-*s %10s  sha256 %s\n", static_cast<int>(width), artifact.name(),
                             FormatBytes(static_cast<double>(artifact.size_bytes())),
                             artifact.sha256());
    }
  }
  if (job.state() != v1::JOB_STATE_SUCCEEDED) return;
  const std::optional<nlohmann::ordered_json> report = ParseReport(job);
  if (!report || !report->is_object()) return;
  // Whatever evaluations the report holds ("evaluation", "gguf_evaluation", ...), as they are.
  for (const auto& [key, value] : report->items()) {
    if (!absl::StrContains(key, "evaluation") || !value.is_object()) continue;
    out << key << "\n";
    for (const auto& [name, result] : value.items()) {
      out << absl::StrFormat("  %-22s %s\n", name, ReportValue(result));
    }
  }
}

}  // namespace quench::cli
