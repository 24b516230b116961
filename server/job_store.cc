#include "server/job_store.h"

#include <chrono>
#include <random>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "core/util/sha256.h"
#include "core/util/status_macros.h"

namespace quench::server {
namespace {

constexpr int kSchemaVersion = 1;
constexpr int kDefaultPageSize = 50;
constexpr int kMaxPageSize = 1000;

constexpr char kSchema[] = R"sql(
CREATE TABLE IF NOT EXISTS jobs (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  job_id TEXT NOT NULL UNIQUE,
  request_id TEXT NOT NULL UNIQUE,
  request_sha256 TEXT NOT NULL,
  request BLOB NOT NULL,
  state INTEGER NOT NULL,
  message TEXT NOT NULL DEFAULT '',
  progress REAL NOT NULL DEFAULT 0,
  finished_blocks INTEGER NOT NULL DEFAULT 0,
  total_blocks INTEGER NOT NULL DEFAULT 0,
  report_json TEXT NOT NULL DEFAULT '',
  created_unix_s INTEGER NOT NULL,
  updated_unix_s INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS jobs_by_state ON jobs(state);
CREATE TABLE IF NOT EXISTS artifacts (
  job_id TEXT NOT NULL REFERENCES jobs(job_id),
  name TEXT NOT NULL,
  size_bytes INTEGER NOT NULL,
  sha256 TEXT NOT NULL,
  PRIMARY KEY (job_id, name)
);
)sql";

constexpr char kJobColumns[] =
    "job_id, request_id, request_sha256, request, state, message, progress, finished_blocks, "
    "created_unix_s, updated_unix_s, seq, total_blocks, report_json";

int64_t NowUnixSeconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Unguessable and unique: 16 random hex digits.
std::string NewJobId() {
  static std::mutex mutex;
  static std::mt19937_64 random{std::random_device{}()};
  std::lock_guard lock(mutex);
  return absl::StrFormat("job-%016x", random());
}

JobRecord ReadJob(const SqliteStatement& row) {
  JobRecord job;
  job.job_id = row.Text(0);
  job.request_id = row.Text(1);
  job.request_sha256 = row.Text(2);
  job.request = row.Text(3);
  job.state = static_cast<v1::JobState>(row.Int(4));
  job.message = row.Text(5);
  job.progress = row.Double(6);
  job.finished_blocks = row.Int(7);
  job.created_unix_s = row.Int(8);
  job.updated_unix_s = row.Int(9);
  job.total_blocks = row.Int(11);
  job.report_json = row.Text(12);
  return job;
}

bool IsAllowedTransition(v1::JobState from, v1::JobState to) {
  if (IsTerminal(from)) return false;
  if (from == v1::JOB_STATE_QUEUED) return to != v1::JOB_STATE_QUEUED;
  // RUNNING: forward to an end, or back to QUEUED when its worker is lost and it waits again.
  return to != v1::JOB_STATE_UNSPECIFIED;
}

}  // namespace

bool IsTerminal(v1::JobState state) {
  return state == v1::JOB_STATE_SUCCEEDED || state == v1::JOB_STATE_FAILED ||
         state == v1::JOB_STATE_CANCELLED;
}

absl::StatusOr<std::unique_ptr<JobStore>> JobStore::Open(const std::filesystem::path& path) {
  QUENCH_ASSIGN_OR_RETURN(std::unique_ptr<SqliteDb> db, SqliteDb::Open(path));
  // WAL: readers do not block the writer; FULL: every commit is fsynced before it returns
  // (WAL's default NORMAL could lose the last commits on power loss).
  QUENCH_RETURN_IF_ERROR(db->Execute("PRAGMA journal_mode=WAL"));
  QUENCH_RETURN_IF_ERROR(db->Execute("PRAGMA synchronous=FULL"));
  QUENCH_RETURN_IF_ERROR(db->Execute("PRAGMA foreign_keys=ON"));
  QUENCH_ASSIGN_OR_RETURN(const std::string version, db->QueryText("PRAGMA user_version"));
  int64_t stored_version = 0;
  if (!absl::SimpleAtoi(version, &stored_version) || stored_version > kSchemaVersion) {
    return absl::FailedPreconditionError(
        absl::StrCat(path.string(), ": job store schema version ", version,
                     " is newer than this quenchd understands (", kSchemaVersion,
                     "); run a newer quenchd or point --data-dir elsewhere"));
  }
  QUENCH_RETURN_IF_ERROR(db->Execute(kSchema));
  QUENCH_RETURN_IF_ERROR(db->Execute(absl::StrCat("PRAGMA user_version=", kSchemaVersion)));
  return std::unique_ptr<JobStore>(new JobStore(std::move(db)));
}

absl::StatusOr<JobStore::Created> JobStore::CreateJob(const std::string& request_id,
                                                      const std::string& request) {
  if (request_id.empty()) return absl::InvalidArgumentError("request_id must not be empty");
  const std::string digest = Sha256Hex(request);
  std::lock_guard lock(mutex_);
  QUENCH_ASSIGN_OR_RETURN(auto find, db_->Prepare(absl::StrCat("SELECT ", kJobColumns,
                                                               " FROM jobs WHERE request_id=?1")));
  find.Bind(1, request_id);
  QUENCH_ASSIGN_OR_RETURN(const bool seen, find.Step());
  if (seen) {
    JobRecord existing = ReadJob(find);
    if (existing.request_sha256 != digest) {
      return absl::AlreadyExistsError(
          absl::StrCat("request_id '", request_id, "' was already used for job ", existing.job_id,
                       " with a different request; use a new request_id"));
    }
    return Created{std::move(existing), false};
  }
  JobRecord job;
  job.job_id = NewJobId();
  job.request_id = request_id;
  job.request_sha256 = digest;
  job.request = request;
  job.created_unix_s = job.updated_unix_s = NowUnixSeconds();
  QUENCH_ASSIGN_OR_RETURN(
      auto insert,
      db_->Prepare("INSERT INTO jobs (job_id, request_id, request_sha256, request, state, "
                   "created_unix_s, updated_unix_s) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6)"));
  insert.Bind(1, job.job_id)
      .Bind(2, request_id)
      .Bind(3, digest)
      .BindBlob(4, request)
      .Bind(5, static_cast<int64_t>(job.state))
      .Bind(6, job.created_unix_s);
  QUENCH_RETURN_IF_ERROR(insert.Run());
  return Created{std::move(job), true};
}

absl::StatusOr<JobRecord> JobStore::GetJobLocked(const std::string& job_id) {
  QUENCH_ASSIGN_OR_RETURN(
      auto find, db_->Prepare(absl::StrCat("SELECT ", kJobColumns, " FROM jobs WHERE job_id=?1")));
  find.Bind(1, job_id);
  QUENCH_ASSIGN_OR_RETURN(const bool found, find.Step());
  if (!found) return absl::NotFoundError(absl::StrCat("no job '", job_id, "'"));
  return ReadJob(find);
}

absl::StatusOr<JobRecord> JobStore::GetJob(const std::string& job_id) {
  std::lock_guard lock(mutex_);
  return GetJobLocked(job_id);
}

absl::StatusOr<std::vector<JobRecord>> JobStore::ListJobs(int page_size,
                                                          const std::string& page_token,
                                                          std::string* next_page_token) {
  if (page_size < 0) return absl::InvalidArgumentError("page_size must be >= 0");
  const int limit = page_size == 0 ? kDefaultPageSize : std::min(page_size, kMaxPageSize);
  int64_t before = INT64_MAX;
  if (!page_token.empty() && (!absl::SimpleAtoi(page_token, &before) || before < 1)) {
    return absl::InvalidArgumentError("page_token is not one ListJobs returned");
  }
  std::lock_guard lock(mutex_);
  QUENCH_ASSIGN_OR_RETURN(auto list, db_->Prepare(absl::StrCat(
                                         "SELECT ", kJobColumns,
                                         " FROM jobs WHERE seq < ?1 ORDER BY seq DESC LIMIT ?2")));
  list.Bind(1, before).Bind(2, static_cast<int64_t>(limit) + 1);
  std::vector<JobRecord> jobs;
  int64_t last_seq = 0;
  for (;;) {
    QUENCH_ASSIGN_OR_RETURN(const bool row, list.Step());
    if (!row) break;
    if (static_cast<int>(jobs.size()) == limit) {  // one more exists: there is a next page
      *next_page_token = absl::StrCat(last_seq);
      return jobs;
    }
    jobs.push_back(ReadJob(list));
    last_seq = list.Int(10);
  }
  next_page_token->clear();
  return jobs;
}

absl::StatusOr<std::vector<JobRecord>> JobStore::JobsInState(v1::JobState state) {
  std::lock_guard lock(mutex_);
  QUENCH_ASSIGN_OR_RETURN(
      auto list,
      db_->Prepare(absl::StrCat("SELECT ", kJobColumns, " FROM jobs WHERE state=?1 ORDER BY seq")));
  list.Bind(1, static_cast<int64_t>(state));
  std::vector<JobRecord> jobs;
  for (;;) {
    QUENCH_ASSIGN_OR_RETURN(const bool row, list.Step());
    if (!row) return jobs;
    jobs.push_back(ReadJob(list));
  }
}

absl::Status JobStore::SetState(const std::string& job_id, v1::JobState state,
                                const std::string& message) {
  std::lock_guard lock(mutex_);
  QUENCH_ASSIGN_OR_RETURN(const JobRecord job, GetJobLocked(job_id));
  if (!IsAllowedTransition(job.state, state)) {
    return absl::FailedPreconditionError(
        absl::StrCat("job ", job_id, " is ", v1::JobState_Name(job.state), "; it cannot become ",
                     v1::JobState_Name(state)));
  }
  QUENCH_ASSIGN_OR_RETURN(
      auto update,
      db_->Prepare("UPDATE jobs SET state=?2, message=?3, updated_unix_s=?4 WHERE job_id=?1"));
  update.Bind(1, job_id)
      .Bind(2, static_cast<int64_t>(state))
      .Bind(3, message)
      .Bind(4, NowUnixSeconds());
  return update.Run();
}

absl::Status JobStore::SetProgress(const std::string& job_id, double progress,
                                   int64_t finished_blocks, int64_t total_blocks,
                                   const std::string& message) {
  std::lock_guard lock(mutex_);
  QUENCH_ASSIGN_OR_RETURN(
      auto update, db_->Prepare("UPDATE jobs SET progress=?2, finished_blocks=?3, total_blocks=?6, "
                                "message=?4, updated_unix_s=?5 WHERE job_id=?1"));
  update.Bind(1, job_id)
      .Bind(2, progress)
      .Bind(3, finished_blocks)
      .Bind(4, message)
      .Bind(5, NowUnixSeconds())
      .Bind(6, total_blocks);
  QUENCH_RETURN_IF_ERROR(update.Run());
  if (db_->changes() == 0) return absl::NotFoundError(absl::StrCat("no job '", job_id, "'"));
  return absl::OkStatus();
}

absl::Status JobStore::CompleteJob(const std::string& job_id,
                                   const std::vector<ArtifactRecord>& artifacts,
                                   const std::string& report_json, const std::string& message) {
  std::lock_guard lock(mutex_);
  QUENCH_RETURN_IF_ERROR(db_->Execute("BEGIN IMMEDIATE"));
  absl::Status status = [&]() -> absl::Status {
    QUENCH_ASSIGN_OR_RETURN(const JobRecord job, GetJobLocked(job_id));
    if (!IsAllowedTransition(job.state, v1::JOB_STATE_SUCCEEDED)) {
      return absl::FailedPreconditionError(absl::StrCat(
          "job ", job_id, " is ", v1::JobState_Name(job.state), "; it cannot become SUCCEEDED"));
    }
    for (const ArtifactRecord& artifact : artifacts) {
      QUENCH_RETURN_IF_ERROR(InsertArtifactLocked(job_id, artifact));
    }
    QUENCH_ASSIGN_OR_RETURN(auto update,
                            db_->Prepare("UPDATE jobs SET state=?2, message=?3, report_json=?4, "
                                         "progress=1, updated_unix_s=?5 WHERE job_id=?1"));
    update.Bind(1, job_id)
        .Bind(2, static_cast<int64_t>(v1::JOB_STATE_SUCCEEDED))
        .Bind(3, message)
        .Bind(4, report_json)
        .Bind(5, NowUnixSeconds());
    return update.Run();
  }();
  if (!status.ok()) {
    (void)db_->Execute("ROLLBACK");
    return status;
  }
  return db_->Execute("COMMIT");
}

absl::Status JobStore::AddArtifact(const std::string& job_id, const ArtifactRecord& artifact) {
  std::lock_guard lock(mutex_);
  return InsertArtifactLocked(job_id, artifact);
}

absl::Status JobStore::InsertArtifactLocked(const std::string& job_id,
                                            const ArtifactRecord& artifact) {
  QUENCH_ASSIGN_OR_RETURN(
      auto insert, db_->Prepare("INSERT INTO artifacts (job_id, name, size_bytes, sha256) VALUES "
                                "(?1, ?2, ?3, ?4)"));
  insert.Bind(1, job_id)
      .Bind(2, artifact.name)
      .Bind(3, static_cast<int64_t>(artifact.size_bytes))
      .Bind(4, artifact.sha256);
  return insert.Run();
}

absl::StatusOr<std::vector<ArtifactRecord>> JobStore::Artifacts(const std::string& job_id) {
  std::lock_guard lock(mutex_);
  QUENCH_ASSIGN_OR_RETURN(
      auto list, db_->Prepare("SELECT name, size_bytes, sha256 FROM artifacts WHERE job_id=?1 "
                              "ORDER BY name"));
  list.Bind(1, job_id);
  std::vector<ArtifactRecord> artifacts;
  for (;;) {
    QUENCH_ASSIGN_OR_RETURN(const bool row, list.Step());
    if (!row) return artifacts;
    artifacts.push_back({list.Text(0), static_cast<uint64_t>(list.Int(1)), list.Text(2)});
  }
}

absl::StatusOr<std::pair<std::string, std::string>> JobStore::DurabilitySettings() {
  std::lock_guard lock(mutex_);
  QUENCH_ASSIGN_OR_RETURN(std::string journal, db_->QueryText("PRAGMA journal_mode"));
  QUENCH_ASSIGN_OR_RETURN(std::string synchronous, db_->QueryText("PRAGMA synchronous"));
  return std::pair{std::move(journal), std::move(synchronous)};
}

absl::StatusOr<std::vector<std::pair<v1::JobState, int64_t>>> JobStore::CountByState() {
  std::lock_guard lock(mutex_);
  QUENCH_ASSIGN_OR_RETURN(
      auto count, db_->Prepare("SELECT state, COUNT(*) FROM jobs GROUP BY state ORDER BY state"));
  std::vector<std::pair<v1::JobState, int64_t>> counts;
  for (;;) {
    QUENCH_ASSIGN_OR_RETURN(const bool row, count.Step());
    if (!row) return counts;
    counts.emplace_back(static_cast<v1::JobState>(count.Int(0)), count.Int(1));
  }
}

}  // namespace quench::server
