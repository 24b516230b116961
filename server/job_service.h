// quench.v1.JobService over the scheduler, job store and artifact store: the public API.
#pragma once

#include "quench/v1/jobs.grpc.pb.h"
#include "server/artifact_store.h"
#include "server/auth.h"
#include "server/job_events.h"
#include "server/job_scheduler.h"
#include "server/job_store.h"
#include "server/metrics.h"

namespace quench::server {

class JobServiceImpl final : public v1::JobService::Service {
 public:
  JobServiceImpl(JobScheduler& scheduler, JobStore& store, const ArtifactStore& artifacts,
                 JobEvents& events, ServerMetrics& metrics, const TokenAuth& auth)
      : scheduler_(scheduler),
        store_(store),
        artifacts_(artifacts),
        events_(events),
        metrics_(metrics),
        auth_(auth) {}

  grpc::Status SubmitJob(grpc::ServerContext* context, const v1::SubmitJobRequest* request,
                         v1::SubmitJobResponse* response) override;
  grpc::Status GetJob(grpc::ServerContext* context, const v1::GetJobRequest* request,
                      v1::GetJobResponse* response) override;
  grpc::Status ListJobs(grpc::ServerContext* context, const v1::ListJobsRequest* request,
                        v1::ListJobsResponse* response) override;
  grpc::Status WatchJob(grpc::ServerContext* context, const v1::WatchJobRequest* request,
                        grpc::ServerWriter<v1::WatchJobResponse>* writer) override;
  grpc::Status CancelJob(grpc::ServerContext* context, const v1::CancelJobRequest* request,
                         v1::CancelJobResponse* response) override;
  grpc::Status DownloadArtifact(grpc::ServerContext* context,
                                const v1::DownloadArtifactRequest* request,
                                grpc::ServerWriter<v1::DownloadArtifactResponse>* writer) override;

 private:
  JobScheduler& scheduler_;
  JobStore& store_;
  const ArtifactStore& artifacts_;
  JobEvents& events_;
  ServerMetrics& metrics_;
  const TokenAuth& auth_;
};

}  // namespace quench::server
