#include "server/report_page.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "core/report/html_report.h"
#include "core/util/atomic_file.h"

namespace quench::server {
namespace {

constexpr char kText[] = "text/plain; charset=utf-8";
constexpr char kPrefix[] = "/jobs/";
constexpr char kSuffix[] = "/report";

}  // namespace

std::optional<std::string> ReportPageJob(const std::string& path) {
  if (!absl::StartsWith(path, kPrefix) || !absl::EndsWith(path, kSuffix)) return std::nullopt;
  const size_t begin = sizeof(kPrefix) - 1;
  const size_t end = path.size() - (sizeof(kSuffix) - 1);
  if (end <= begin) return std::nullopt;
  return path.substr(begin, end - begin);
}

HttpResponse ServeReportPage(const HttpRequest& request, const std::string& job_id, JobStore& store,
                             const ArtifactStore& artifacts, const TokenAuth& auth) {
  const std::optional<absl::string_view> authorization =
      request.authorization ? std::optional<absl::string_view>(*request.authorization)
                            : std::nullopt;
  if (const absl::Status allowed = auth.CheckHeader(authorization); !allowed.ok()) {
    return {401, kText,
            absl::StrCat(allowed.message(),
                         " (send \"Authorization: Bearer <token>\" with the request)\n")};
  }
  if (!IsSafeArtifactPath(job_id)) return {404, kText, "no such job\n"};
  const absl::StatusOr<JobRecord> job = store.GetJob(job_id);
  if (!job.ok()) return {404, kText, absl::StrCat("no job ", job_id, "\n")};
  if (job->state != v1::JOB_STATE_SUCCEEDED) {
    return {409, kText,
            absl::StrCat("job ", job_id, " is ", v1::JobState_Name(job->state),
                         ": its report is written when it succeeds\n")};
  }
  const absl::StatusOr<std::filesystem::path> path = artifacts.PathOf(job_id, kReportHtmlName);
  absl::StatusOr<std::string> page =
      path.ok() ? ReadFileToString(*path) : absl::StatusOr<std::string>(path.status());
  if (absl::IsNotFound(page.status())) {
    return {404, kText,
            absl::StrCat("job ", job_id,
                         " has no report.html (it ran on an older quenchd): its figures are in "
                         "report.json\n")};
  }
  if (!page.ok()) {
    return {500, kText, absl::StrCat("cannot read the report: ", page.status().message(), "\n")};
  }
  return {200, "text/html; charset=utf-8", *std::move(page)};
}

}  // namespace quench::server
