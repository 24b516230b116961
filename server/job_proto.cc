#include "server/job_proto.h"

#include "absl/strings/match.h"
#include "core/util/status_macros.h"

namespace quench::server {

v1::Job JobToProto(const JobRecord& job, const std::vector<ArtifactRecord>& artifacts) {
  v1::Job proto;
  proto.set_job_id(job.job_id);
  proto.set_request_id(job.request_id);
  proto.set_state(job.state);
  proto.set_message(job.message);
  proto.set_progress(job.progress);
  proto.set_finished_blocks(job.finished_blocks);
  proto.set_total_blocks(job.total_blocks);
  proto.set_created_unix_s(job.created_unix_s);
  proto.set_updated_unix_s(job.updated_unix_s);
  proto.set_report_json(job.report_json);
  for (const ArtifactRecord& artifact : artifacts) {
    v1::Artifact* added = proto.add_artifacts();
    added->set_name(artifact.name);
    added->set_size_bytes(artifact.size_bytes);
    added->set_sha256(artifact.sha256);
  }
  return proto;
}

absl::StatusOr<v1::Job> LoadJobProto(JobStore& store, const std::string& job_id) {
  QUENCH_ASSIGN_OR_RETURN(const JobRecord job, store.GetJob(job_id));
  std::vector<ArtifactRecord> artifacts;
  if (job.state == v1::JOB_STATE_SUCCEEDED) {
    QUENCH_ASSIGN_OR_RETURN(artifacts, store.Artifacts(job_id));
  }
  return JobToProto(job, artifacts);
}

std::string StateName(v1::JobState state) {
  std::string name = v1::JobState_Name(state);
  constexpr absl::string_view kPrefix = "JOB_STATE_";
  if (absl::StartsWith(name, kPrefix)) name.erase(0, kPrefix.size());
  return name;
}

}  // namespace quench::server
