// Runs the coordinator's jobs: takes submissions (validated, then durable in the job store),
// keeps a bounded queue, and runs each job on a runner thread through RunLocalJob, its shards on
// the connected workers (or in this process without any).
// Every state change and finished block is recorded in the store and published to watchers.
#pragma once

#include <atomic>
#include <condition_variable>
#include <deque>
#include <filesystem>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "core/job/quantization_driver.h"
#include "server/artifact_store.h"
#include "server/job_events.h"
#include "server/job_store.h"
#include "server/metrics.h"
#include "server/model_roots.h"
#include "server/worker_registry.h"

namespace quench::server {

struct SchedulerOptions {
  std::filesystem::path work_dir;  // where running jobs write their outputs before import
  // Where running jobs save finished blocks (<dir>/<job id>/), kept across restarts.
  std::filesystem::path checkpoint_dir;
  int runners = 1;             // jobs that run at once
  int max_queued_jobs = 1000;  // SubmitJob beyond this is RESOURCE_EXHAUSTED
  // Connected workers: a job that starts while some are connected holds its calibration shards
  // on them; with none (or no registry), the job runs in this process.
  WorkerRegistry* workers = nullptr;
  // A job left queued or running by the last coordinator waits up to this long after a restart
  // for workers to reconnect, so it resumes on them rather than in this process.
  double restart_worker_wait_s = 5.0;
  // A worker task is tried this many times (a lost worker's on another) before the job fails.
  int max_task_attempts = 3;
  // With every worker of a running job lost, how long it waits for one to connect.
  double lost_workers_wait_s = 30.0;
};

class JobScheduler {
 public:
  JobScheduler(JobStore& store, const ArtifactStore& artifacts, const ModelRoots& roots,
               JobEvents& events, ServerMetrics& metrics, SchedulerOptions options);
  ~JobScheduler();

  // Re-queues the jobs a previous coordinator left QUEUED or RUNNING (a RUNNING job resumes
  // after its checkpointed blocks), then starts the runners.
  absl::Status Start();
  // Stops taking work; running jobs stop at their next block or solve and go back to QUEUED, so
  // the next start resumes them after their checkpointed blocks. Idempotent.
  void Stop();

  // Validates the request (INVALID_ARGUMENT / PERMISSION_DENIED / NOT_FOUND naming what is
  // wrong) and records the job; see JobStore::CreateJob for repeated request ids.
  absl::StatusOr<JobStore::Created> Submit(const v1::SubmitJobRequest& request);
  // A QUEUED job ends at once; a RUNNING one is CANCELLED now and its runner stops at its next
  // block or solve, discarding its outputs. An ended job is returned unchanged.
  absl::StatusOr<JobRecord> Cancel(const std::string& job_id);

  int64_t QueueDepth();

 private:
  void RunnerLoop();
  void RunJob(const JobRecord& job);
  absl::Status RunAndStore(const JobRecord& job);
  // Records the job's current row as an event for watchers.
  void Publish(const std::string& job_id, const std::string& message,
               const std::vector<LinearReport>& layers = {}, double eta_s = -1.0);
  bool ShouldStop(const std::string& job_id);
  // For a job restarted by Start(): until a worker is connected, the wait is over or the job
  // should stop.
  void WaitForWorkersAfterRestart(const std::string& job_id);
  std::filesystem::path CheckpointDir(const std::string& job_id) const;

  JobStore& store_;
  const ArtifactStore& artifacts_;
  const ModelRoots& roots_;
  JobEvents& events_;
  ServerMetrics& metrics_;
  SchedulerOptions options_;

  std::mutex mutex_;
  std::condition_variable work_;
  std::deque<std::string> queue_;
  std::set<std::string> cancelled_;  // running jobs asked to stop
  std::set<std::string> restarted_;  // jobs queued or running when the last coordinator stopped
  bool stopping_ = false;
  std::vector<std::thread> runners_;
};

}  // namespace quench::server
