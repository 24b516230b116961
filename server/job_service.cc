#include "server/job_service.h"

#include "absl/strings/str_cat.h"
#include "core/util/crc32c.h"
#include "server/job_proto.h"

namespace quench::server {
namespace {

constexpr uint64_t kChunkBytes = 1 << 20;  // well under gRPC's 4 MiB message limit
constexpr auto kWatchPoll = std::chrono::milliseconds(500);

#define QUENCH_CHECK_AUTH(context)                               \
  if (grpc::Status auth = auth_.Check(*(context)); !auth.ok()) { \
    return auth;                                                 \
  }

// The job as it stands, as a watch event: what a watcher gets when there is no history.
v1::WatchJobResponse SnapshotEvent(const v1::Job& job) {
  v1::WatchJobResponse event;
  *event.mutable_job() = job;
  event.set_message(absl::StrCat("job is ", StateName(job.state())));
  event.set_eta_s(-1);
  return event;
}

}  // namespace

grpc::Status JobServiceImpl::SubmitJob(grpc::ServerContext* context,
                                       const v1::SubmitJobRequest* request,
                                       v1::SubmitJobResponse* response) {
  QUENCH_CHECK_AUTH(context);
  auto created = scheduler_.Submit(*request);
  if (!created.ok()) return ToGrpcStatus(created.status());
  auto job = LoadJobProto(store_, created->job.job_id);
  if (!job.ok()) return ToGrpcStatus(job.status());
  *response->mutable_job() = std::move(*job);
  response->set_created(created->created);
  return grpc::Status::OK;
}

grpc::Status JobServiceImpl::GetJob(grpc::ServerContext* context, const v1::GetJobRequest* request,
                                    v1::GetJobResponse* response) {
  QUENCH_CHECK_AUTH(context);
  auto job = LoadJobProto(store_, request->job_id());
  if (!job.ok()) return ToGrpcStatus(job.status());
  *response->mutable_job() = std::move(*job);
  return grpc::Status::OK;
}

grpc::Status JobServiceImpl::ListJobs(grpc::ServerContext* context,
                                      const v1::ListJobsRequest* request,
                                      v1::ListJobsResponse* response) {
  QUENCH_CHECK_AUTH(context);
  if (request->page_size() < 0) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "page_size must not be negative");
  }
  std::string token = request->page_token();
  const int wanted = request->page_size() == 0 ? 50 : std::min(request->page_size(), 1000);
  // A state filter skips rows: keep reading store pages until this page is full.
  while (response->jobs_size() < wanted) {
    std::string next;
    auto jobs = store_.ListJobs(wanted, token, &next);
    if (!jobs.ok()) return ToGrpcStatus(jobs.status());
    for (const JobRecord& job : *jobs) {
      if (request->state() != v1::JOB_STATE_UNSPECIFIED && job.state != request->state()) continue;
      auto listed = LoadJobProto(store_, job.job_id);
      if (listed.ok()) *response->add_jobs() = std::move(*listed);
    }
    token = next;
    if (token.empty()) break;
  }
  response->set_next_page_token(token);
  return grpc::Status::OK;
}

grpc::Status JobServiceImpl::WatchJob(grpc::ServerContext* context,
                                      const v1::WatchJobRequest* request,
                                      grpc::ServerWriter<v1::WatchJobResponse>* writer) {
  QUENCH_CHECK_AUTH(context);
  auto job = LoadJobProto(store_, request->job_id());
  if (!job.ok()) return ToGrpcStatus(job.status());
  size_t next = 0;
  // This coordinator's history of the job first (so a late watcher sees every block); when it
  // has none (the job ended before it started, say), the job as it stands.
  auto events = events_.WaitFrom(request->job_id(), 0, std::chrono::milliseconds(0));
  if (events.empty()) {
    if (!writer->Write(SnapshotEvent(*job))) return grpc::Status::CANCELLED;
    if (IsTerminal(job->state())) return grpc::Status::OK;
  }
  for (;;) {
    for (const v1::WatchJobResponse& event : events) {
      ++next;
      if (!writer->Write(event)) return grpc::Status::CANCELLED;
      if (IsTerminal(event.job().state())) return grpc::Status::OK;
    }
    if (context->IsCancelled()) return grpc::Status::CANCELLED;
    if (events_.closed()) {
      return grpc::Status(grpc::StatusCode::UNAVAILABLE,
                          "quenchd is shutting down; the job lives on in its store: watch again");
    }
    events = events_.WaitFrom(request->job_id(), next, kWatchPoll);
    if (events.empty()) {
      // Ended without an event this watcher can see (its history was forgotten): say so.
      auto now = LoadJobProto(store_, request->job_id());
      if (now.ok() && IsTerminal(now->state())) {
        events = events_.WaitFrom(request->job_id(), next, std::chrono::milliseconds(0));
        if (events.empty()) {
          writer->Write(SnapshotEvent(*now));
          return grpc::Status::OK;
        }
      }
    }
  }
}

grpc::Status JobServiceImpl::CancelJob(grpc::ServerContext* context,
                                       const v1::CancelJobRequest* request,
                                       v1::CancelJobResponse* response) {
  QUENCH_CHECK_AUTH(context);
  auto cancelled = scheduler_.Cancel(request->job_id());
  if (!cancelled.ok()) return ToGrpcStatus(cancelled.status());
  auto job = LoadJobProto(store_, request->job_id());
  if (!job.ok()) return ToGrpcStatus(job.status());
  *response->mutable_job() = std::move(*job);
  return grpc::Status::OK;
}

grpc::Status JobServiceImpl::DownloadArtifact(
    grpc::ServerContext* context, const v1::DownloadArtifactRequest* request,
    grpc::ServerWriter<v1::DownloadArtifactResponse>* writer) {
  QUENCH_CHECK_AUTH(context);
  auto job = LoadJobProto(store_, request->job_id());
  if (!job.ok()) return ToGrpcStatus(job.status());
  if (job->state() != v1::JOB_STATE_SUCCEEDED) {
    return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION,
                        absl::StrCat("job ", request->job_id(), " is ", StateName(job->state()),
                                     "; artifacts can be downloaded once it has SUCCEEDED"));
  }
  const v1::Artifact* artifact = nullptr;
  for (const v1::Artifact& candidate : job->artifacts()) {
    if (candidate.name() == request->name()) artifact = &candidate;
  }
  if (artifact == nullptr) {
    return grpc::Status(grpc::StatusCode::NOT_FOUND,
                        absl::StrCat("job ", request->job_id(), " has no artifact '",
                                     request->name(), "' (GetJob lists them)"));
  }
  if (request->offset() > artifact->size_bytes()) {
    return grpc::Status(grpc::StatusCode::OUT_OF_RANGE,
                        absl::StrCat("offset ", request->offset(), " is past the end of ",
                                     artifact->name(), " (", artifact->size_bytes(), " bytes)"));
  }
  uint64_t offset = request->offset();
  do {
    if (context->IsCancelled()) return grpc::Status::CANCELLED;
    auto data = artifacts_.Read(request->job_id(), artifact->name(), offset, kChunkBytes);
    if (!data.ok()) return ToGrpcStatus(data.status());
    v1::DownloadArtifactResponse chunk;
    chunk.set_offset(offset);
    chunk.set_crc32c(Crc32c(data->data(), data->size(), 0));
    chunk.set_total_bytes(artifact->size_bytes());
    chunk.set_sha256(artifact->sha256());
    offset += data->size();
    const uint64_t sent = data->size();
    *chunk.mutable_data() = std::move(*data);
    if (!writer->Write(chunk)) return grpc::Status::CANCELLED;
    metrics_.BytesStreamed("download", sent);
    if (sent == 0) break;
  } while (offset < artifact->size_bytes());
  return grpc::Status::OK;
}

}  // namespace quench::server
