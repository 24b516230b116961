// The job store's records as the API's messages.
#pragma once

#include <vector>

#include "quench/v1/jobs.pb.h"
#include "server/job_store.h"

namespace quench::server {

v1::Job JobToProto(const JobRecord& job, const std::vector<ArtifactRecord>& artifacts);
// The job as the API shows it now: its row, and its artifacts once SUCCEEDED.
absl::StatusOr<v1::Job> LoadJobProto(JobStore& store, const std::string& job_id);

// "SUCCEEDED" for JOB_STATE_SUCCEEDED: how logs and messages name a state.
std::string StateName(v1::JobState state);

}  // namespace quench::server
