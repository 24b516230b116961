#include "server/metrics.h"

#include <cctype>

#include "prometheus/text_serializer.h"
#include "server/job_proto.h"

namespace quench::server {
namespace {

std::string Lowercase(std::string text) {
  for (char& c : text) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return text;
}

// Seconds, from a fraction of a second (a small job's block) to hours (a large job).
prometheus::Histogram::BucketBoundaries DurationBuckets() {
  return {0.01, 0.05, 0.25, 1, 5, 15, 60, 300, 900, 3600, 4 * 3600, 12 * 3600};
}

constexpr v1::JobState kStates[] = {v1::JOB_STATE_QUEUED, v1::JOB_STATE_RUNNING,
                                    v1::JOB_STATE_SUCCEEDED, v1::JOB_STATE_FAILED,
                                    v1::JOB_STATE_CANCELLED};

}  // namespace

ServerMetrics::ServerMetrics(JobCounts job_counts)
    : job_counts_(std::move(job_counts)), registry_(std::make_shared<prometheus::Registry>()) {
  jobs_ = &prometheus::BuildGauge()
               .Name("quench_jobs")
               .Help("Jobs in the store, by state")
               .Register(*registry_);
  for (v1::JobState state : kStates) jobs_->Add({{"state", Lowercase(StateName(state))}});
  submitted_ = &prometheus::BuildCounter()
                    .Name("quench_jobs_submitted_total")
                    .Help("Jobs created by SubmitJob (retried submissions not counted)")
                    .Register(*registry_)
                    .Add({});
  queue_depth_ = &prometheus::BuildGauge()
                      .Name("quench_job_queue_depth")
                      .Help("Jobs waiting for a runner")
                      .Register(*registry_)
                      .Add({});
  job_seconds_ = &prometheus::BuildHistogram()
                      .Name("quench_job_duration_seconds")
                      .Help("Time from a job starting to run to its end, by outcome")
                      .Register(*registry_);
  task_seconds_ = &prometheus::BuildHistogram()
                       .Name("quench_task_duration_seconds")
                       .Help("Time of one unit of scheduled work, by kind")
                       .Register(*registry_);
  workers_ = &prometheus::BuildGauge()
                  .Name("quench_workers_connected")
                  .Help("Workers ready to take tasks, by backend")
                  .Register(*registry_);
  bytes_ = &prometheus::BuildCounter()
                .Name("quench_bytes_streamed_total")
                .Help("Bytes sent or received in artifact and tensor streams")
                .Register(*registry_);
  queue_wait_ = &prometheus::BuildHistogram()
                     .Name("quench_job_queue_wait_seconds")
                     .Help("Time from a job's submission to a runner starting it")
                     .Register(*registry_)
                     .Add({}, DurationBuckets());
  // Every series an alert or dashboard may query exists from the start, at zero: a rule on a
  // series that appears only after its first event cannot tell "none yet" from "broken".
  for (const v1::JobState state :
       {v1::JOB_STATE_SUCCEEDED, v1::JOB_STATE_FAILED, v1::JOB_STATE_CANCELLED}) {
    job_seconds_->Add({{"outcome", Lowercase(StateName(state))}}, DurationBuckets());
  }
  for (const char* backend : {"cpu", "cuda", "hip"}) workers_->Add({{"backend", backend}});
  bytes_->Add({{"direction", "download"}});
}

void ServerMetrics::JobStarted(double seconds_queued) { queue_wait_->Observe(seconds_queued); }

void ServerMetrics::JobEnded(v1::JobState state, double seconds) {
  job_seconds_->Add({{"outcome", Lowercase(StateName(state))}}, DurationBuckets()).Observe(seconds);
}

void ServerMetrics::TaskDone(const std::string& kind, double seconds) {
  task_seconds_->Add({{"kind", kind}}, DurationBuckets()).Observe(seconds);
}

void ServerMetrics::SetWorkersConnected(const std::string& backend, int64_t count) {
  workers_->Add({{"backend", backend}}).Set(static_cast<double>(count));
}

void ServerMetrics::BytesStreamed(const std::string& direction, uint64_t bytes) {
  bytes_->Add({{"direction", direction}}).Increment(static_cast<double>(bytes));
}

std::string ServerMetrics::Render() {
  // Every state is reported, 0 included, so a query never sees a series vanish.
  for (v1::JobState state : kStates) jobs_->Add({{"state", Lowercase(StateName(state))}}).Set(0);
  for (const auto& [state, count] : job_counts_()) {
    jobs_->Add({{"state", Lowercase(StateName(state))}}).Set(static_cast<double>(count));
  }
  return prometheus::TextSerializer().Serialize(registry_->Collect());
}

}  // namespace quench::server
