// quenchd in process (the same Coordinator the daemon runs), driven over gRPC on loopback:
// a stories260K job submitted, watched block by block and downloaded gives the bytes
// `RunLocalJob` writes; bad input and wrong tokens get their codes; /metrics follows the jobs.
#include "server/coordinator.h"

#include <gtest/gtest.h>

#include <map>
#include <random>

#include "core/recipe/recipe.h"
#include "core/report/html_report.h"
#include "core/util/atomic_file.h"
#include "core/util/crc32c.h"
#include "core/util/sha256.h"
#include "grpcpp/grpcpp.h"
#include "quench/v1/jobs.grpc.pb.h"
#include "tests/core/http_get.h"
#include "tests/core/test_paths.h"
#include "worker/local_job.h"
#include "worker/worker_connection.h"

namespace quench::server {
namespace {

using testing::HttpGet;
using testing::MetricValue;
using testing::SharedPath;
using testing::TempDir;

constexpr char kToken[] = "test-token-1234";

class CoordinatorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    model_ = SharedPath("models/stories260K");
    calib_ = SharedPath("data/stories260K-calib.jsonl");
    if (!std::filesystem::exists(model_) || !std::filesystem::exists(calib_)) {
      GTEST_SKIP() << "missing fixture " << model_ << " or " << calib_;
    }
    // The server refuses "..", which the build's path to ../shared contains.
    model_ = std::filesystem::canonical(model_);
    calib_ = std::filesystem::canonical(calib_);
    CoordinatorOptions options;
    options.listen = "127.0.0.1:0";
    options.http_listen = "127.0.0.1:0";
    options.data_dir = dir_ / "data";
    options.model_roots = {std::filesystem::canonical(SharedPath(""))};
    options.token = kToken;
    auto started = Coordinator::Start(options);
    ASSERT_TRUE(started.ok()) << started.status();
    coordinator_ = std::move(*started);
    stub_ = v1::JobService::NewStub(
        grpc::CreateChannel("127.0.0.1:" + std::to_string(coordinator_->grpc_port()),
                            grpc::InsecureChannelCredentials()));
  }

  std::unique_ptr<grpc::ClientContext> Context(const std::string& token = kToken) {
    auto context = std::make_unique<grpc::ClientContext>();
    if (!token.empty()) context->AddMetadata("authorization", "Bearer " + token);
    context->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(120));
    return context;
  }

  v1::SubmitJobRequest Request(const std::string& preset, const std::string& request_id) {
    v1::SubmitJobRequest request;
    request.set_request_id(request_id);
    request.mutable_model()->set_local_path(model_.string());
    // The preset with 8 calibration sequences instead of 128, so the sanitizer run stays short.
    if (!preset.empty()) {
      Recipe recipe = LoadPreset(preset).value();
      recipe.calibration.samples = 8;
      request.set_recipe(RecipeToYaml(recipe));
    }
    request.set_calibration_path(calib_.string());
    request.set_calibration_shards(4);
    return request;
  }

  // Every event until the job ends.
  std::vector<v1::WatchJobResponse> Watch(const std::string& job_id) {
    auto context = Context();
    v1::WatchJobRequest request;
    request.set_job_id(job_id);
    auto reader = stub_->WatchJob(context.get(), request);
    std::vector<v1::WatchJobResponse> events;
    for (v1::WatchJobResponse event; reader->Read(&event);) events.push_back(event);
    EXPECT_TRUE(reader->Finish().ok());
    return events;
  }

  // An artifact's bytes, fetched from `offset` on (each chunk's crc32c checked).
  std::string Download(const std::string& job_id, const std::string& name, uint64_t offset = 0) {
    auto context = Context();
    v1::DownloadArtifactRequest request;
    request.set_job_id(job_id);
    request.set_name(name);
    request.set_offset(offset);
    auto reader = stub_->DownloadArtifact(context.get(), request);
    std::string data;
    for (v1::DownloadArtifactResponse chunk; reader->Read(&chunk);) {
      EXPECT_EQ(chunk.offset(), offset + data.size());
      EXPECT_EQ(chunk.crc32c(), Crc32c(chunk.data().data(), chunk.data().size()));
      data += chunk.data();
    }
    const grpc::Status status = reader->Finish();
    EXPECT_TRUE(status.ok()) << status.error_message();
    return data;
  }

  TempDir dir_;
  std::filesystem::path model_, calib_;
  std::unique_ptr<Coordinator> coordinator_;
  std::unique_ptr<v1::JobService::Stub> stub_;
};

TEST_F(CoordinatorTest, GptqJobStreamsEveryBlockAndDownloadsTheBytesOfALocalRun) {
  const std::string metrics_before = HttpGet(coordinator_->http_port(), "/metrics").second;
  v1::SubmitJobResponse submitted;
  const auto request = Request("gptq-w4g32", "gptq-1");
  ASSERT_TRUE(stub_->SubmitJob(Context().get(), request, &submitted).ok());
  ASSERT_TRUE(submitted.created());
  const std::string job_id = submitted.job().job_id();

  const auto events = Watch(job_id);
  ASSERT_FALSE(events.empty());
  const v1::Job& last = events.back().job();
  ASSERT_EQ(last.state(), v1::JOB_STATE_SUCCEEDED) << last.message();
  std::set<int64_t> blocks_seen;
  for (const auto& event : events) {
    if (!event.layers().empty()) blocks_seen.insert(event.job().finished_blocks());
  }
  const int64_t blocks = last.total_blocks();
  ASSERT_GT(blocks, 0);
  EXPECT_EQ(static_cast<int64_t>(blocks_seen.size()), blocks) << "every block reported its layers";

  // The same recipe run by `quench local`'s code gives the same bytes, report aside (it holds
  // timings and paths).
  auto recipe = ParseRecipe(request.recipe(), "test");
  ASSERT_TRUE(recipe.ok()) << recipe.status();
  recipe->calibration.path = calib_.string();
  recipe->calibration.shards = 4;
  ASSERT_TRUE(worker::RunLocalJob(model_, *recipe, dir_ / "local").ok());
  std::mt19937 random(7);
  int compared = 0;
  for (const v1::Artifact& artifact : last.artifacts()) {
    const std::string downloaded = Download(job_id, artifact.name());
    EXPECT_EQ(Sha256Hex(downloaded), artifact.sha256()) << artifact.name();
    EXPECT_EQ(downloaded.size(), artifact.size_bytes());
    if (IsRunReport(artifact.name())) continue;
    const auto local = ReadFileToString(dir_ / "local" / artifact.name());
    ASSERT_TRUE(local.ok()) << artifact.name();
    EXPECT_EQ(Sha256Hex(*local), artifact.sha256()) << artifact.name();
    ++compared;
    // A download cut at a random offset and resumed gives the same bytes.
    if (artifact.size_bytes() > 1) {
      const uint64_t cut =
          std::uniform_int_distribution<uint64_t>(1, artifact.size_bytes() - 1)(random);
      EXPECT_EQ(downloaded.substr(0, cut) + Download(job_id, artifact.name(), cut), downloaded);
    }
  }
  EXPECT_GE(compared, 3);
  const auto report = nlohmann::json::parse(last.report_json());
  EXPECT_EQ(report["method"], "gptq");

  // The report page: the job's report.html, behind the same token as the gRPC calls.
  const std::string page_path = "/jobs/" + job_id + "/report";
  const std::string bearer = std::string("Authorization: Bearer ") + kToken + "\r\n";
  const auto [page_code, page] = HttpGet(coordinator_->http_port(), page_path, bearer);
  EXPECT_EQ(page_code, 200) << page;
  EXPECT_EQ(page, Download(job_id, kReportHtmlName));
  EXPECT_NE(page.find("<table id=\"summary\">"), std::string::npos);
  EXPECT_EQ(HttpGet(coordinator_->http_port(), page_path).first, 401);
  EXPECT_EQ(HttpGet(coordinator_->http_port(), page_path, "Authorization: Bearer wrong\r\n").first,
            401);
  EXPECT_EQ(HttpGet(coordinator_->http_port(), "/jobs/job-nonexistent/report", bearer).first, 404);
  EXPECT_EQ(HttpGet(coordinator_->http_port(), "/jobs/../report", bearer).first, 404);

  const auto [code, metrics_after] = HttpGet(coordinator_->http_port(), "/metrics");
  EXPECT_EQ(code, 200);
  EXPECT_EQ(MetricValue(metrics_after, "quench_jobs{state=\"succeeded\"}"),
            MetricValue(metrics_before, "quench_jobs{state=\"succeeded\"}") + 1);
  EXPECT_EQ(MetricValue(metrics_after, "quench_jobs_submitted_total"),
            MetricValue(metrics_before, "quench_jobs_submitted_total") + 1);
  EXPECT_GT(MetricValue(metrics_after, "quench_bytes_streamed_total{direction=\"download\"}"), 0);
}

TEST_F(CoordinatorTest, RepeatedRequestIdReturnsTheJobAndADifferentBodyIsAlreadyExists) {
  v1::SubmitJobResponse first, again;
  ASSERT_TRUE(stub_->SubmitJob(Context().get(), Request("rtn-w4g32", "same"), &first).ok());
  ASSERT_TRUE(stub_->SubmitJob(Context().get(), Request("rtn-w4g32", "same"), &again).ok());
  EXPECT_TRUE(first.created());
  EXPECT_FALSE(again.created());
  EXPECT_EQ(first.job().job_id(), again.job().job_id());
  v1::SubmitJobResponse clash;
  const grpc::Status status = stub_->SubmitJob(Context().get(), Request("rtn-w8", "same"), &clash);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::ALREADY_EXISTS);
  EXPECT_EQ(Watch(first.job().job_id()).back().job().state(), v1::JOB_STATE_SUCCEEDED);
}

TEST_F(CoordinatorTest, BadInputGetsItsCodeAndTheServerKeepsServing) {
  v1::SubmitJobResponse response;
  auto outside = Request("rtn-w4g32", "outside");
  outside.mutable_model()->set_local_path("/etc");
  EXPECT_EQ(stub_->SubmitJob(Context().get(), outside, &response).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  auto dotdot = Request("rtn-w4g32", "dotdot");
  dotdot.mutable_model()->set_local_path("models/../../etc");
  EXPECT_EQ(stub_->SubmitJob(Context().get(), dotdot, &response).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  auto bad_recipe = Request("", "bad-recipe");
  bad_recipe.set_recipe("method: gptq\nweights: {bits: 4, group_sise: 32}\n");
  const grpc::Status recipe_status = stub_->SubmitJob(Context().get(), bad_recipe, &response);
  EXPECT_EQ(recipe_status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(recipe_status.error_message().find("group_sise"), std::string::npos)
      << recipe_status.error_message();
  auto calib_outside = Request("rtn-w4g32", "calib-outside");
  calib_outside.set_calibration_path("/etc/passwd");
  EXPECT_EQ(stub_->SubmitJob(Context().get(), calib_outside, &response).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  v1::GetJobRequest get;
  get.set_job_id("job-does-not-exist");
  v1::GetJobResponse got;
  EXPECT_EQ(stub_->GetJob(Context().get(), get, &got).error_code(), grpc::StatusCode::NOT_FOUND);

  // Wrong or missing token: UNAUTHENTICATED on every service call.
  EXPECT_EQ(
      stub_->SubmitJob(Context("wrong").get(), Request("rtn-w4g32", "x"), &response).error_code(),
      grpc::StatusCode::UNAUTHENTICATED);
  v1::ListJobsResponse listed;
  EXPECT_EQ(stub_->ListJobs(Context("").get(), v1::ListJobsRequest(), &listed).error_code(),
            grpc::StatusCode::UNAUTHENTICATED);

  // Still serving, and nothing was created by the refused calls.
  ASSERT_TRUE(stub_->ListJobs(Context().get(), v1::ListJobsRequest(), &listed).ok());
  EXPECT_EQ(listed.jobs_size(), 0);
  EXPECT_EQ(HttpGet(coordinator_->http_port(), "/healthz").first, 200);
  EXPECT_EQ(HttpGet(coordinator_->http_port(), "/readyz").first, 200);
  EXPECT_EQ(HttpGet(coordinator_->http_port(), "/nope").first, 404);
}

TEST_F(CoordinatorTest, CancelledJobEndsCancelledWithoutArtifacts) {
  // Two jobs on one runner: the second waits in the queue and is cancelled there; the first is
  // cancelled while it runs (or, on a fast machine, has already ended — both are terminal).
  v1::SubmitJobResponse first, second;
  ASSERT_TRUE(stub_->SubmitJob(Context().get(), Request("gptq-w4g32", "c1"), &first).ok());
  ASSERT_TRUE(stub_->SubmitJob(Context().get(), Request("gptq-w4g32", "c2"), &second).ok());
  v1::CancelJobRequest cancel;
  cancel.set_job_id(second.job().job_id());
  v1::CancelJobResponse cancelled;
  ASSERT_TRUE(stub_->CancelJob(Context().get(), cancel, &cancelled).ok());
  EXPECT_EQ(cancelled.job().state(), v1::JOB_STATE_CANCELLED);
  EXPECT_EQ(cancelled.job().artifacts_size(), 0);
  EXPECT_EQ(Watch(second.job().job_id()).back().job().state(), v1::JOB_STATE_CANCELLED);
  EXPECT_EQ(HttpGet(coordinator_->http_port(), "/jobs/" + second.job().job_id() + "/report",
                    std::string("Authorization: Bearer ") + kToken + "\r\n")
                .first,
            409);
  cancel.set_job_id(first.job().job_id());
  ASSERT_TRUE(stub_->CancelJob(Context().get(), cancel, &cancelled).ok());
  const v1::JobState first_state = Watch(first.job().job_id()).back().job().state();
  EXPECT_TRUE(first_state == v1::JOB_STATE_CANCELLED || first_state == v1::JOB_STATE_SUCCEEDED);
  // Downloading from a cancelled job is a precondition failure, not a crash.
  v1::DownloadArtifactRequest download;
  download.set_job_id(second.job().job_id());
  download.set_name("quench.safetensors");
  auto context = Context();
  auto reader = stub_->DownloadArtifact(context.get(), download);
  v1::DownloadArtifactResponse chunk;
  EXPECT_FALSE(reader->Read(&chunk));
  EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::FAILED_PRECONDITION);
}

// DESIGN §5: the same job with 1, 2 and 3 workers (and in process, with none) gives the same
// bytes. Workers here are RunWorker loops on threads, connected over loopback like processes.
TEST_F(CoordinatorTest, ArtifactsAreByteIdenticalWithOneTwoAndThreeWorkers) {
  std::vector<std::string> digests;
  const auto run_job = [&](const std::string& request_id) {
    v1::SubmitJobResponse submitted;
    EXPECT_TRUE(
        stub_->SubmitJob(Context().get(), Request("gptq-w4g32", request_id), &submitted).ok());
    const v1::Job job = Watch(submitted.job().job_id()).back().job();
    EXPECT_EQ(job.state(), v1::JOB_STATE_SUCCEEDED) << job.message();
    std::string digest;
    for (const v1::Artifact& artifact : job.artifacts()) {
      if (!IsRunReport(artifact.name())) digest += artifact.name() + "=" + artifact.sha256() + ";";
    }
    return digest;
  };
  digests.push_back(run_job("in-process"));
  std::atomic<bool> stop{false};
  std::vector<std::thread> workers;
  for (int count = 1; count <= 3; ++count) {
    worker::WorkerOptions options;
    options.coordinator = "127.0.0.1:" + std::to_string(coordinator_->grpc_port());
    options.name = "worker-" + std::to_string(count);
    options.token = kToken;
    workers.emplace_back([options, &stop] { EXPECT_TRUE(worker::RunWorker(options, stop).ok()); });
    // Wait until the coordinator counts it.
    for (int i = 0; i < 200; ++i) {
      const std::string metrics = HttpGet(coordinator_->http_port(), "/metrics").second;
      if (MetricValue(metrics, "quench_workers_connected{backend=\"cpu\"}") == count) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(25));
    }
    digests.push_back(run_job("workers-" + std::to_string(count)));
  }
  // The workers' tasks were timed, solves included.
  const std::string metrics = HttpGet(coordinator_->http_port(), "/metrics").second;
  EXPECT_GT(MetricValue(metrics, "quench_task_duration_seconds_count{kind=\"solve_gptq\"}"), 0);
  EXPECT_GT(MetricValue(metrics, "quench_task_duration_seconds_count{kind=\"collect_statistics\"}"),
            0);
  stop = true;
  for (auto& worker : workers) worker.join();
  ASSERT_EQ(digests.size(), 4u);
  EXPECT_NE(digests[0].find("quench.safetensors="), std::string::npos);
  for (size_t i = 1; i < digests.size(); ++i) EXPECT_EQ(digests[i], digests[0]) << i << " workers";
}

}  // namespace
}  // namespace quench::server
