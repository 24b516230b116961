// The coordinator's job store on a real SQLite file: durability settings, idempotent
// submission, paging, state rules, artifacts, reopening, and damaged files.
#include "server/job_store.h"

#include <gtest/gtest.h>

#include <set>

#include "core/util/atomic_file.h"
#include "tests/core/test_paths.h"

namespace quench::server {
namespace {

using testing::TempDir;

std::unique_ptr<JobStore> OpenStore(const std::filesystem::path& path) {
  auto store = JobStore::Open(path);
  EXPECT_TRUE(store.ok()) << store.status();
  return store.ok() ? std::move(*store) : nullptr;
}

TEST(JobStoreTest, UsesWalWithFullSync) {
  TempDir dir;
  auto store = OpenStore(dir / "jobs.db");
  ASSERT_NE(store, nullptr);
  auto settings = store->DurabilitySettings();
  ASSERT_TRUE(settings.ok()) << settings.status();
  EXPECT_EQ(settings->first, "wal");
  EXPECT_EQ(settings->second, "2") << "PRAGMA synchronous: 2 is FULL";
  ASSERT_TRUE(store->CreateJob("r", "x").ok());
  EXPECT_TRUE(std::filesystem::exists(dir / "jobs.db-wal"));
}

TEST(JobStoreTest, SameRequestIdReturnsTheSameJobAndADifferentBodyIsRefused) {
  TempDir dir;
  auto store = OpenStore(dir / "jobs.db");
  auto first = store->CreateJob("req-1", "body A");
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_TRUE(first->created);
  EXPECT_EQ(first->job.state, v1::JOB_STATE_QUEUED);
  auto retry = store->CreateJob("req-1", "body A");
  ASSERT_TRUE(retry.ok());
  EXPECT_FALSE(retry->created);
  EXPECT_EQ(retry->job.job_id, first->job.job_id);
  auto clash = store->CreateJob("req-1", "body B");
  EXPECT_EQ(clash.status().code(), absl::StatusCode::kAlreadyExists) << clash.status();
  EXPECT_NE(clash.status().message().find(first->job.job_id), std::string::npos);
  auto other = store->CreateJob("req-2", "body A");
  ASSERT_TRUE(other.ok());
  EXPECT_NE(other->job.job_id, first->job.job_id);
  EXPECT_FALSE(store->CreateJob("", "body").ok());
}

TEST(JobStoreTest, JobsAndArtifactsSurviveReopening) {
  TempDir dir;
  std::string job_id;
  {
    auto store = OpenStore(dir / "jobs.db");
    auto created = store->CreateJob("req", "the request");
    ASSERT_TRUE(created.ok());
    job_id = created->job.job_id;
    ASSERT_TRUE(store->SetState(job_id, v1::JOB_STATE_RUNNING, "block 0").ok());
    ASSERT_TRUE(store->SetProgress(job_id, 0.5, 3, 8, "block 3 done").ok());
    ASSERT_TRUE(store->AddArtifact(job_id, {"gptq/model.safetensors", 1234, "ab"}).ok());
  }
  auto store = OpenStore(dir / "jobs.db");
  auto job = store->GetJob(job_id);
  ASSERT_TRUE(job.ok()) << job.status();
  EXPECT_EQ(job->state, v1::JOB_STATE_RUNNING);
  EXPECT_EQ(job->request, "the request");
  EXPECT_DOUBLE_EQ(job->progress, 0.5);
  EXPECT_EQ(job->finished_blocks, 3);
  EXPECT_EQ(job->total_blocks, 8);
  EXPECT_EQ(job->message, "block 3 done");
  auto running = store->JobsInState(v1::JOB_STATE_RUNNING);
  ASSERT_TRUE(running.ok());
  ASSERT_EQ(running->size(), 1u);
  EXPECT_EQ(running->front().job_id, job_id);
  auto artifacts = store->Artifacts(job_id);
  ASSERT_TRUE(artifacts.ok());
  ASSERT_EQ(artifacts->size(), 1u);
  EXPECT_EQ(artifacts->front().size_bytes, 1234u);
  EXPECT_EQ(store->AddArtifact(job_id, {"gptq/model.safetensors", 1, "cd"}).code(),
            absl::StatusCode::kAlreadyExists);
  EXPECT_FALSE(store->AddArtifact("job-missing", {"x", 1, "cd"}).ok()) << "foreign key";
}

TEST(JobStoreTest, TerminalStatesAreFinal) {
  TempDir dir;
  auto store = OpenStore(dir / "jobs.db");
  const std::string id = store->CreateJob("req", "r")->job.job_id;
  EXPECT_FALSE(store->SetState(id, v1::JOB_STATE_QUEUED, "").ok());
  ASSERT_TRUE(store->SetState(id, v1::JOB_STATE_RUNNING, "").ok());
  ASSERT_TRUE(store->SetState(id, v1::JOB_STATE_FAILED, "worker lost 3 times").ok());
  const absl::Status again = store->SetState(id, v1::JOB_STATE_SUCCEEDED, "");
  EXPECT_EQ(again.code(), absl::StatusCode::kFailedPrecondition) << again;
  EXPECT_EQ(store->GetJob(id)->message, "worker lost 3 times");
  EXPECT_EQ(store->GetJob("job-none").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(store->SetProgress("job-none", 0.1, 0, 0, "").code(), absl::StatusCode::kNotFound);
}

TEST(JobStoreTest, ListsNewestFirstInPagesThatCoverEveryJobOnce) {
  TempDir dir;
  auto store = OpenStore(dir / "jobs.db");
  std::vector<std::string> ids;
  for (int i = 0; i < 7; ++i)
    ids.push_back(store->CreateJob("r" + std::to_string(i), "x")->job.job_id);
  std::vector<std::string> listed;
  std::string token;
  int pages = 0;
  do {
    std::string next;
    auto page = store->ListJobs(3, token, &next);
    ASSERT_TRUE(page.ok()) << page.status();
    EXPECT_LE(page->size(), 3u);
    for (const auto& job : *page) listed.push_back(job.job_id);
    token = next;
    ++pages;
  } while (!token.empty() && pages < 10);
  EXPECT_EQ(pages, 3);
  EXPECT_EQ(listed, std::vector<std::string>(ids.rbegin(), ids.rend()));
  std::string next;
  EXPECT_FALSE(store->ListJobs(3, "not-a-token", &next).ok());
  EXPECT_FALSE(store->ListJobs(-1, "", &next).ok());
  auto counts = store->CountByState();
  ASSERT_TRUE(counts.ok());
  ASSERT_EQ(counts->size(), 1u);
  EXPECT_EQ(counts->front().second, 7);
}

TEST(JobStoreTest, DamagedFileIsAClearError) {
  TempDir dir;
  ASSERT_TRUE(WriteFileAtomically(dir / "jobs.db", std::string(4096, 'x')).ok());
  auto store = JobStore::Open(dir / "jobs.db");
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.status().code(), absl::StatusCode::kDataLoss) << store.status();
  EXPECT_NE(store.status().message().find("jobs.db"), std::string::npos);
}

TEST(JobStoreTest, CompleteJobRecordsArtifactsAndReportTogether) {
  TempDir dir;
  auto store = OpenStore(dir / "jobs.db");
  const std::string job_id = store->CreateJob("req", "body")->job.job_id;
  ASSERT_TRUE(store->SetState(job_id, v1::JOB_STATE_RUNNING, "").ok());
  const std::vector<ArtifactRecord> artifacts = {{"a.safetensors", 10, "aa"},
                                                 {"report.json", 2, "bb"}};
  ASSERT_TRUE(store->CompleteJob(job_id, artifacts, R"({"ok":1})", "done").ok());
  auto job = store->GetJob(job_id);
  ASSERT_TRUE(job.ok());
  EXPECT_EQ(job->state, v1::JOB_STATE_SUCCEEDED);
  EXPECT_EQ(job->report_json, R"({"ok":1})");
  EXPECT_DOUBLE_EQ(job->progress, 1.0);
  EXPECT_EQ(store->Artifacts(job_id)->size(), 2u);
}

TEST(JobStoreTest, CompleteJobOfACancelledJobChangesNothing) {
  TempDir dir;
  auto store = OpenStore(dir / "jobs.db");
  const std::string job_id = store->CreateJob("req", "body")->job.job_id;
  ASSERT_TRUE(store->SetState(job_id, v1::JOB_STATE_RUNNING, "").ok());
  ASSERT_TRUE(store->SetState(job_id, v1::JOB_STATE_CANCELLED, "by user").ok());
  EXPECT_EQ(store->CompleteJob(job_id, {{"a", 1, "aa"}}, "{}", "done").code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(store->GetJob(job_id)->state, v1::JOB_STATE_CANCELLED);
  EXPECT_TRUE(store->Artifacts(job_id)->empty());
  // The rolled-back transaction left the store usable.
  EXPECT_TRUE(store->CreateJob("req2", "body2").ok());
}

}  // namespace
}  // namespace quench::server
