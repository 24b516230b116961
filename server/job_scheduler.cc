#include "server/job_scheduler.h"

#include <algorithm>
#include <chrono>
#include <ctime>
#include <random>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "core/util/sha256.h"
#include "core/util/status_macros.h"
#include "core/util/version.h"
#include "server/job_proto.h"
#include "server/remote_shard_worker.h"
#include "server/submission.h"
#include "spdlog/spdlog.h"
#include "worker/block_checkpoint_files.h"
#include "worker/local_job.h"

namespace quench::server {
namespace {

using Clock = std::chrono::steady_clock;

double SecondsSince(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

std::string RandomRequestId() {
  static std::mutex mutex;
  static std::mt19937_64 random{std::random_device{}()};
  std::lock_guard lock(mutex);
  return absl::StrFormat("server-%016x%016x", random(), random());
}

v1::LayerError LayerErrorProto(const LinearReport& report) {
  v1::LayerError layer;
  layer.set_name(report.name);
  layer.set_grid(report.grid);
  layer.set_relative_output_error(report.relative_output_error);
  layer.set_relative_weight_error(report.relative_weight_error);
  return layer;
}

// A rough bound on what a shard holder keeps per calibration token, in fp32: the hidden state it
// holds, and a block's intermediates while it runs (normed input, q/k/v, attention context, the
// MLP's gate and up projections).
uint64_t ShardBytesPerToken(const ModelSpec& spec) {
  return 4 * static_cast<uint64_t>(6 * spec.hidden_size + 2 * spec.intermediate_size);
}

// Quantizing is most of a job; evaluation, when the recipe asks for it, the last tenth.
constexpr double kQuantizeShareWithEval = 0.9;

}  // namespace

JobScheduler::JobScheduler(JobStore& store, const ArtifactStore& artifacts, const ModelRoots& roots,
                           JobEvents& events, ServerMetrics& metrics, SchedulerOptions options)
    : store_(store),
      artifacts_(artifacts),
      roots_(roots),
      events_(events),
      metrics_(metrics),
      options_(std::move(options)) {}

JobScheduler::~JobScheduler() { Stop(); }

absl::Status JobScheduler::Start() {
  QUENCH_ASSIGN_OR_RETURN(const auto running, store_.JobsInState(v1::JOB_STATE_RUNNING));
  for (const JobRecord& job : running) {
    QUENCH_RETURN_IF_ERROR(store_.SetState(job.job_id, v1::JOB_STATE_QUEUED,
                                           "the coordinator restarted; the job resumes"));
    spdlog::info("job {}: was running when the coordinator stopped; queued again", job.job_id);
  }
  QUENCH_ASSIGN_OR_RETURN(const auto queued, store_.JobsInState(v1::JOB_STATE_QUEUED));
  {
    std::lock_guard lock(mutex_);
    for (const JobRecord& job : queued) {
      queue_.push_back(job.job_id);
      restarted_.insert(job.job_id);  // its workers, if any, are reconnecting now
    }
    metrics_.SetQueueDepth(static_cast<int64_t>(queue_.size()));
  }
  std::error_code error;
  std::filesystem::create_directories(options_.work_dir, error);
  if (error) {
    return absl::PermissionDeniedError(
        absl::StrCat(options_.work_dir.string(), ": ", error.message()));
  }
  for (int i = 0; i < std::max(1, options_.runners); ++i) {
    runners_.emplace_back([this] { RunnerLoop(); });
  }
  return absl::OkStatus();
}

void JobScheduler::Stop() {
  {
    std::lock_guard lock(mutex_);
    if (stopping_ && runners_.empty()) return;
    stopping_ = true;
  }
  work_.notify_all();
  for (std::thread& runner : runners_) runner.join();
  runners_.clear();
}

absl::StatusOr<JobStore::Created> JobScheduler::Submit(const v1::SubmitJobRequest& request) {
  QUENCH_RETURN_IF_ERROR(PrepareJob(request, roots_).status());
  v1::SubmitJobRequest stored = request;
  if (stored.request_id().empty()) stored.set_request_id(RandomRequestId());
  {
    std::lock_guard lock(mutex_);
    if (stopping_) return absl::UnavailableError("the coordinator is shutting down");
    if (static_cast<int>(queue_.size()) >= options_.max_queued_jobs) {
      return absl::ResourceExhaustedError(
          absl::StrCat(queue_.size(), " jobs are queued (the limit is --max-queued-jobs ",
                       options_.max_queued_jobs, "); submit again later"));
    }
  }
  std::string body;
  stored.SerializeToString(&body);
  QUENCH_ASSIGN_OR_RETURN(JobStore::Created created, store_.CreateJob(stored.request_id(), body));
  if (!created.created) return created;
  metrics_.JobSubmitted();
  spdlog::info("job {}: submitted (request {})", created.job.job_id, stored.request_id());
  Publish(created.job.job_id, "queued");
  {
    std::lock_guard lock(mutex_);
    queue_.push_back(created.job.job_id);
    metrics_.SetQueueDepth(static_cast<int64_t>(queue_.size()));
  }
  work_.notify_one();
  return created;
}

absl::StatusOr<JobRecord> JobScheduler::Cancel(const std::string& job_id) {
  QUENCH_ASSIGN_OR_RETURN(const JobRecord job, store_.GetJob(job_id));
  if (IsTerminal(job.state)) return job;
  {
    std::lock_guard lock(mutex_);
    auto queued = std::find(queue_.begin(), queue_.end(), job_id);
    if (queued != queue_.end()) {
      queue_.erase(queued);
    } else {
      cancelled_.insert(job_id);  // running: its runner stops and forgets it
    }
    metrics_.SetQueueDepth(static_cast<int64_t>(queue_.size()));
  }
  // It may have ended meanwhile: then the store refuses and the job stays as it ended.
  if (auto set = store_.SetState(job_id, v1::JOB_STATE_CANCELLED, "cancelled by a client");
      set.ok()) {
    spdlog::info("job {}: cancelled", job_id);
    Publish(job_id, "cancelled by a client");
  }
  return store_.GetJob(job_id);
}

int64_t JobScheduler::QueueDepth() {
  std::lock_guard lock(mutex_);
  return static_cast<int64_t>(queue_.size());
}

bool JobScheduler::ShouldStop(const std::string& job_id) {
  std::lock_guard lock(mutex_);
  return stopping_ || cancelled_.count(job_id) > 0;
}

void JobScheduler::WaitForWorkersAfterRestart(const std::string& job_id) {
  {
    std::lock_guard lock(mutex_);
    if (restarted_.erase(job_id) == 0) return;
  }
  if (options_.workers == nullptr) return;
  // Workers come back one by one (each on its own backoff): wait for the first, then until
  // none has arrived for a second, within the bound.
  const auto until = Clock::now() + std::chrono::duration<double>(options_.restart_worker_wait_s);
  size_t seen = 0;
  auto last_arrival = Clock::now();
  while (Clock::now() < until && !ShouldStop(job_id)) {
    const size_t connected = options_.workers->size();
    if (connected > seen) {
      seen = connected;
      last_arrival = Clock::now();
    }
    if (seen > 0 && Clock::now() - last_arrival > std::chrono::seconds(1)) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

void JobScheduler::RunnerLoop() {
  for (;;) {
    std::string job_id;
    {
      std::unique_lock lock(mutex_);
      work_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
      if (stopping_) return;
      job_id = queue_.front();
      queue_.pop_front();
      metrics_.SetQueueDepth(static_cast<int64_t>(queue_.size()));
    }
    auto job = store_.GetJob(job_id);
    if (!job.ok()) {
      spdlog::error("job {}: cannot read it from the store: {}", job_id, job.status().ToString());
      continue;
    }
    if (job->state == v1::JOB_STATE_QUEUED) RunJob(*job);
    std::lock_guard lock(mutex_);
    cancelled_.erase(job_id);
  }
}

void JobScheduler::RunJob(const JobRecord& job) {
  const auto start = Clock::now();
  if (auto set = store_.SetState(job.job_id, v1::JOB_STATE_RUNNING, "starting"); !set.ok()) {
    return;  // cancelled between the queue and here
  }
  spdlog::info("job {}: running", job.job_id);
  metrics_.JobStarted(
      std::max<double>(0, static_cast<double>(std::time(nullptr) - job.created_unix_s)));
  Publish(job.job_id, "running");
  const absl::Status status = RunAndStore(job);
  const std::filesystem::path staging = options_.work_dir / job.job_id;
  std::error_code ignored;
  std::filesystem::remove_all(staging, ignored);
  auto ended = store_.GetJob(job.job_id);
  const bool cancelled = ended.ok() && ended->state == v1::JOB_STATE_CANCELLED;
  const bool interrupted = !status.ok() && !cancelled && ShouldStop(job.job_id);
  // A job the coordinator's shutdown interrupted resumes from its checkpoints; an ended job's
  // are no use.
  if (!interrupted) std::filesystem::remove_all(CheckpointDir(job.job_id), ignored);
  if (status.ok()) {
    spdlog::info("job {}: succeeded in {:.1f} s", job.job_id, SecondsSince(start));
  } else if (cancelled) {
    spdlog::info("job {}: stopped after cancellation", job.job_id);
  } else if (interrupted) {
    (void)store_.SetState(job.job_id, v1::JOB_STATE_QUEUED,
                          "the coordinator stopped; the job resumes when it restarts");
    spdlog::info("job {}: interrupted by shutdown; queued again", job.job_id);
    return;
  } else {
    const std::string reason = std::string(status.message());
    spdlog::warn("job {}: failed: {}", job.job_id, status.ToString());
    if (store_.SetState(job.job_id, v1::JOB_STATE_FAILED, reason).ok()) {
      Publish(job.job_id, reason);
    }
  }
  if (auto final_job = store_.GetJob(job.job_id); final_job.ok()) {
    metrics_.JobEnded(final_job->state, SecondsSince(start));
  }
}

absl::Status JobScheduler::RunAndStore(const JobRecord& job) {
  v1::SubmitJobRequest request;
  if (!request.ParseFromString(job.request)) {
    return absl::DataLossError("the stored submission cannot be parsed");
  }
  QUENCH_ASSIGN_OR_RETURN(const PreparedJob prepared, PrepareJob(request, roots_));
  const std::filesystem::path staging = options_.work_dir / job.job_id;
  std::error_code ignored;
  std::filesystem::remove_all(staging, ignored);  // what a crashed run left

  // Blocks finished by an earlier run of this job (a coordinator that stopped or crashed) are
  // restored, not solved again. The key ties them to this request and release.
  QUENCH_ASSIGN_OR_RETURN(
      auto checkpoints,
      worker::BlockCheckpointDirectory::Open(
          CheckpointDir(job.job_id), absl::StrCat(kQuenchVersion, ":", Sha256Hex(job.request))));
  QUENCH_ASSIGN_OR_RETURN(const int64_t saved_blocks, checkpoints->SavedBlocks());
  if (saved_blocks > 0) {
    spdlog::info("job {}: resuming after {} checkpointed blocks", job.job_id, saved_blocks);
  }
  const int64_t total_blocks = prepared.spec.num_layers;
  const bool evaluates = !prepared.recipe.evaluation.path.empty();
  const double quantize_share = evaluates ? kQuantizeShareWithEval : 1.0;
  const auto quantize_start = Clock::now();
  auto block_start = quantize_start;
  int64_t finished = 0;
  auto last_eval_event = Clock::now() - std::chrono::seconds(10);

  worker::LocalJobCallbacks callbacks;
  callbacks.checkpoints = checkpoints.get();
  callbacks.cancelled = [&] { return ShouldStop(job.job_id); };
  callbacks.progress = [&](const DriverProgress& progress) {
    if (progress.block <= finished) return;  // a stage within the block, not its end
    finished = progress.block;
    metrics_.TaskDone("block", SecondsSince(block_start));
    block_start = Clock::now();
    const double eta = SecondsSince(quantize_start) / static_cast<double>(finished) *
                       static_cast<double>(total_blocks - finished);
    const std::string message =
        absl::StrCat("block ", finished, "/", total_blocks,
                     progress.restored ? " restored from its checkpoint" : " done");
    (void)store_.SetProgress(job.job_id,
                             quantize_share * static_cast<double>(finished) /
                                 static_cast<double>(std::max<int64_t>(1, total_blocks)),
                             finished, total_blocks, message);
    Publish(job.job_id, message, progress.finished_layers, evaluates ? -1.0 : eta);
  };
  callbacks.eval_progress = [&](const std::string& label, int64_t done, int64_t total) {
    // One event a second at most, and the first and last of each evaluation.
    if (done != 0 && done != total && SecondsSince(last_eval_event) < 1.0) return;
    last_eval_event = Clock::now();
    const std::string message = absl::StrCat(label, " ", done, "/", total);
    (void)store_.SetProgress(job.job_id,
                             quantize_share + (1.0 - quantize_share) * static_cast<double>(done) /
                                                  static_cast<double>(std::max<int64_t>(1, total)),
                             finished, total_blocks, message);
    Publish(job.job_id, message);
  };
  WaitForWorkersAfterRestart(job.job_id);
  std::vector<std::shared_ptr<ConnectedWorker>> workers;
  if (options_.workers != nullptr) workers = WorkersForJob(options_.workers->Snapshot());
  if (!workers.empty()) {
    spdlog::info("job {}: calibration shards on {} workers ({})", job.job_id, workers.size(),
                 v1::DeviceKind_Name(DeviceKindOf(*workers.front())));
    callbacks.make_shard_worker = [&](const ModelWeights& original, ShardLineage lineage) {
      RemoteShardOptions remote;
      remote.max_attempts = options_.max_task_attempts;
      remote.registry = options_.workers;
      remote.device_kind = DeviceKindOf(*workers.front());
      remote.worker_wait_s = options_.lost_workers_wait_s;
      remote.lineage = std::move(lineage);
      remote.cancelled = [this, &job] { return ShouldStop(job.job_id); };
      remote.activation_bytes_per_token = ShardBytesPerToken(prepared.spec);
      return std::make_unique<RemoteShardWorker>(workers, job.job_id, prepared.model_dir.string(),
                                                 original, std::move(remote));
    };
  }
  QUENCH_RETURN_IF_ERROR(store_.SetProgress(
      job.job_id, 0.0, 0, total_blocks,
      absl::StrCat(workers.empty() ? "calibrating"
                                   : absl::StrCat("calibrating on ", workers.size(), " workers"),
                   saved_blocks > 0 ? absl::StrCat("; resuming after block ", saved_blocks) : "")));
  QUENCH_ASSIGN_OR_RETURN(
      const worker::LocalJobResult result,
      worker::RunLocalJob(prepared.model_dir, prepared.recipe, staging, callbacks));
  if (ShouldStop(job.job_id)) return absl::CancelledError("job cancelled");

  // Imported and recorded together, or not at all: a full disk or a cancellation here leaves
  // no file of the job in the store.
  absl::Status stored_all = [&]() -> absl::Status {
    std::vector<ArtifactRecord> stored;
    for (const std::string& name : result.files) {
      QUENCH_ASSIGN_OR_RETURN(ArtifactRecord record,
                              artifacts_.Import(job.job_id, name, staging / name));
      stored.push_back(std::move(record));
    }
    return store_.CompleteJob(job.job_id, stored, result.report.dump(),
                              absl::StrCat(stored.size(), " artifacts"));
  }();
  if (!stored_all.ok()) {
    if (auto removed = artifacts_.RemoveJob(job.job_id); !removed.ok()) {
      spdlog::error("job {}: {}", job.job_id, removed.ToString());
    }
    return stored_all;
  }
  Publish(job.job_id, "succeeded");
  return absl::OkStatus();
}

std::filesystem::path JobScheduler::CheckpointDir(const std::string& job_id) const {
  return options_.checkpoint_dir / job_id;
}

void JobScheduler::Publish(const std::string& job_id, const std::string& message,
                           const std::vector<LinearReport>& layers, double eta_s) {
  auto job = LoadJobProto(store_, job_id);
  if (!job.ok()) return;
  v1::WatchJobResponse event;
  *event.mutable_job() = *std::move(job);
  event.set_message(message);
  for (const LinearReport& layer : layers) *event.add_layers() = LayerErrorProto(layer);
  event.set_eta_s(eta_s);
  events_.Publish(event);
}

}  // namespace quench::server
