// GET /jobs/<id>/report on the coordinator's HTTP port: a succeeded job's report.html, for a
// browser or `curl`. With a token configured the request needs "Authorization: Bearer <token>"
// like the gRPC calls; the page itself is self-contained (core/report/html_report.h).
#pragma once

#include <optional>
#include <string>

#include "server/artifact_store.h"
#include "server/auth.h"
#include "server/http_server.h"
#include "server/job_store.h"

namespace quench::server {

// The job id when `path` is a report page's ("/jobs/<id>/report"), else nullopt.
std::optional<std::string> ReportPageJob(const std::string& path);

// The page, or 401 / 404 / 409 with a sentence saying why not.
HttpResponse ServeReportPage(const HttpRequest& request, const std::string& job_id, JobStore& store,
                             const ArtifactStore& artifacts, const TokenAuth& auth);

}  // namespace quench::server
