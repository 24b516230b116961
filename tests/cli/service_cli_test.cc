// The service as a user runs it: a real quenchd process on loopback with a token, driven by the
// quench CLI. GPTQ and AWQ jobs for stories260K download the same bytes `quench local` writes;
// a cut download resumes to the same sha256; bad input, outside paths and wrong tokens exit with
// their codes while the daemon keeps serving; /metrics passes promtool and follows the jobs.
#include <gtest/gtest.h>

#include <fstream>
#include <random>
#include <thread>

#include "core/report/html_report.h"
#include "core/util/sha256.h"
#include "nlohmann/json.hpp"
#include "tests/cli/daemon_process.h"
#include "tests/cli/run_command.h"
#include "tests/core/http_get.h"
#include "tests/core/test_paths.h"

namespace quench {
namespace {

using testing::HttpGet;
using testing::LastJsonLine;
using testing::MetricValue;
using testing::RunCommand;
using testing::SharedPath;
using testing::TempDir;

const std::string kQuench = testing::QuenchBinary();
const std::string kQuenchd = testing::QuenchdBinary();
const std::string kWorker = testing::WorkerBinary();

// The preset with 8 calibration sequences instead of 128: the service tests run under the
// sanitizers too, where a stories260K calibration pass is slow (AWQ's search the most).
bool WriteSmallRecipe(const std::string& preset, const std::filesystem::path& path) {
  auto shown = RunCommand(kQuench + " recipe show " + preset);
  const size_t samples = shown.output.find("samples: 128");
  if (shown.exit_code != 0 || samples == std::string::npos) {
    ADD_FAILURE() << shown.output;
    return false;
  }
  std::ofstream(path) << shown.output.replace(samples, 12, "samples: 8");
  return true;
}

class ServiceCliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!std::filesystem::exists(SharedPath("models/stories260K")) ||
        !std::filesystem::exists(SharedPath("data/stories260K-calib.jsonl"))) {
      GTEST_SKIP() << "missing fixture " << SharedPath("models/stories260K");
    }
    shared_ = std::filesystem::canonical(SharedPath(""));
    std::ofstream(dir_ / "token") << "s3cret-token\n";
    std::ofstream(dir_ / "wrong-token") << "not-the-token\n";
    daemon_ = std::make_unique<testing::DaemonProcess>(
        kQuenchd,
        std::vector<std::string>{"--listen", "127.0.0.1:0", "--http-listen", "127.0.0.1:0",
                                 "--data-dir", (dir_ / "data").string(), "--model-root",
                                 shared_.string(), "--token-file", (dir_ / "token").string(),
                                 "--ready-file", (dir_ / "ready.json").string()},
        dir_ / "quenchd.log");
    const nlohmann::json ready = daemon_->WaitReady(dir_ / "ready.json");
    ASSERT_TRUE(ready.is_object()) << "quenchd did not start";
    http_port_ = ready["http_port"];
    const std::string address = "127.0.0.1:" + std::to_string(ready["grpc_port"].get<int>());
    connection_ = " --server " + address + " --token-file " + (dir_ / "token").string();
    // Two workers hold the calibration shards of every job.
    for (int i = 0; i < 2; ++i) {
      workers_.push_back(std::make_unique<testing::DaemonProcess>(
          kWorker,
          std::vector<std::string>{"--coordinator", address, "--token-file",
                                   (dir_ / "token").string(), "--name", "w" + std::to_string(i)},
          dir_ / ("worker" + std::to_string(i) + ".log")));
    }
    for (int i = 0; i < 400 && WorkersConnected() != 2; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(25));
    }
    ASSERT_EQ(WorkersConnected(), 2) << "the workers did not connect";
  }

  double WorkersConnected() {
    return MetricValue(HttpGet(http_port_, "/metrics").second,
                       "quench_workers_connected{backend=\"cpu\"}");
  }

  std::string Model() const { return (shared_ / "models/stories260K").string(); }
  std::string Calib() const { return (shared_ / "data/stories260K-calib.jsonl").string(); }

  TempDir dir_;
  std::filesystem::path shared_;
  std::unique_ptr<testing::DaemonProcess> daemon_;
  std::vector<std::unique_ptr<testing::DaemonProcess>> workers_;
  int http_port_ = 0;
  std::string connection_;
};

TEST_F(ServiceCliTest, GptqAndAwqJobsDownloadTheBytesOfQuenchLocal) {
  const std::string metrics_before = HttpGet(http_port_, "/metrics").second;
  for (const std::string preset : {"gptq-w4g32", "awq-w4g32"}) {
    SCOPED_TRACE(preset);
    const auto recipe = dir_ / (preset + ".yaml");
    ASSERT_TRUE(WriteSmallRecipe(preset, recipe));
    const auto out = dir_ / ("service-" + preset);
    auto submitted = RunCommand(kQuench + " submit" + connection_ + " --model " + Model() +
                                " --recipe " + recipe.string() + " --calib " + Calib() +
                                " --shards 4 --out " + out.string() + " --json");
    ASSERT_EQ(submitted.exit_code, 0) << submitted.output;
    const nlohmann::json result = LastJsonLine(submitted.output);
    ASSERT_TRUE(result.is_object()) << submitted.output;
    EXPECT_EQ(result["state"], "SUCCEEDED");

    const auto local = dir_ / ("local-" + preset);
    auto ran =
        RunCommand(kQuench + " local quantize --model " + Model() + " --recipe " + recipe.string() +
                   " --calib " + Calib() + " --shards 4 --out " + local.string());
    ASSERT_EQ(ran.exit_code, 0) << ran.output;
    int compared = 0;
    for (const auto& artifact : result["artifacts"]) {
      const std::string name = artifact["name"];
      // What was downloaded is what the coordinator measured.
      EXPECT_EQ(Sha256FileHex(out / name).value_or(""), artifact["sha256"]) << name;
      if (IsRunReport(name)) continue;  // timings and paths
      EXPECT_EQ(Sha256FileHex(local / name).value_or("missing"), artifact["sha256"]) << name;
      ++compared;
    }
    EXPECT_GE(compared, 3);
  }
  const auto [code, metrics] = HttpGet(http_port_, "/metrics");
  ASSERT_EQ(code, 200);
  EXPECT_EQ(MetricValue(metrics, "quench_jobs{state=\"succeeded\"}"),
            MetricValue(metrics_before, "quench_jobs{state=\"succeeded\"}") + 2);
  EXPECT_EQ(MetricValue(metrics, "quench_workers_connected{backend=\"cpu\"}"), 2);
  // The jobs ran on the workers, not in the coordinator.
  std::ifstream log(dir_ / "quenchd.log");
  const std::string logged((std::istreambuf_iterator<char>(log)), {});
  EXPECT_NE(logged.find("calibration shards on 2 workers"), std::string::npos) << logged;
  // Debian's promtool (package prometheus) accepts the exposition.
  if (RunCommand("command -v promtool").exit_code == 0) {
    std::ofstream(dir_ / "metrics.txt") << metrics;
    auto checked = RunCommand("promtool check metrics < " + (dir_ / "metrics.txt").string());
    EXPECT_EQ(checked.exit_code, 0) << checked.output;
  } else {
    ADD_FAILURE() << "promtool is missing: scripts/setup installs Debian's prometheus package";
  }
}

TEST_F(ServiceCliTest, CutDownloadResumesToTheSameSha256) {
  auto submitted = RunCommand(kQuench + " submit" + connection_ + " --model " + Model() +
                              " --preset rtn-w4g32 --wait --json");
  ASSERT_EQ(submitted.exit_code, 0) << submitted.output;
  const nlohmann::json job = LastJsonLine(submitted.output);
  const std::string job_id = job["job_id"];
  const auto whole = dir_ / "whole";
  auto downloaded = RunCommand(kQuench + " download " + job_id + connection_ + " --out " +
                               whole.string() + " --name fake_quant/model.safetensors");
  ASSERT_EQ(downloaded.exit_code, 0) << downloaded.output;
  const std::string expected = Sha256FileHex(whole / "fake_quant/model.safetensors").value();
  // A download cut at a random offset: the partial file is where the CLI keeps it.
  const auto resumed = dir_ / "resumed";
  std::filesystem::create_directories(resumed / "fake_quant");
  const auto size = std::filesystem::file_size(whole / "fake_quant/model.safetensors");
  std::mt19937 random(11);
  const auto cut = std::uniform_int_distribution<uintmax_t>(1, size - 1)(random);
  std::filesystem::copy_file(whole / "fake_quant/model.safetensors",
                             resumed / "fake_quant/model.safetensors.part");
  std::filesystem::resize_file(resumed / "fake_quant/model.safetensors.part", cut);
  auto again = RunCommand(kQuench + " download " + job_id + connection_ + " --out " +
                          resumed.string() + " --name fake_quant/model.safetensors --json");
  ASSERT_EQ(again.exit_code, 0) << again.output;
  EXPECT_EQ(Sha256FileHex(resumed / "fake_quant/model.safetensors").value_or(""), expected);
  EXPECT_FALSE(std::filesystem::exists(resumed / "fake_quant/model.safetensors.part"));
}

TEST_F(ServiceCliTest, BadInputAndWrongTokensExitWithTheirCodesAndTheDaemonKeepsServing) {
  auto outside = RunCommand(kQuench + " submit" + connection_ + " --model /etc --preset rtn-w4g32");
  EXPECT_EQ(outside.exit_code, 6) << outside.output;  // PERMISSION_DENIED
  EXPECT_NE(outside.output.find("outside the model roots"), std::string::npos) << outside.output;

  std::ofstream(dir_ / "bad.yaml") << "method: gptq\nweights: {bits: 4, group_sise: 32}\n";
  auto bad_recipe = RunCommand(kQuench + " submit" + connection_ + " --model " + Model() +
                               " --recipe " + (dir_ / "bad.yaml").string());
  EXPECT_EQ(bad_recipe.exit_code, 2) << bad_recipe.output;  // INVALID_ARGUMENT
  EXPECT_NE(bad_recipe.output.find("group_sise"), std::string::npos) << bad_recipe.output;

  const std::string server_only = connection_.substr(0, connection_.find(" --token-file"));
  auto wrong = RunCommand(kQuench + " list" + server_only + " --token-file " +
                          (dir_ / "wrong-token").string());
  EXPECT_EQ(wrong.exit_code, 6) << wrong.output;  // UNAUTHENTICATED
  auto missing = RunCommand(kQuench + " list" + server_only);
  EXPECT_EQ(missing.exit_code, 6) << missing.output;

  auto status = RunCommand(kQuench + " status job-0000000000000000" + connection_);
  EXPECT_EQ(status.exit_code, 7) << status.output;  // NOT_FOUND

  auto listed = RunCommand(kQuench + " list" + connection_ + " --json");
  EXPECT_EQ(listed.exit_code, 0) << listed.output;
  EXPECT_EQ(HttpGet(http_port_, "/healthz").first, 200);
  EXPECT_EQ(daemon_->Stop(), 0) << "quenchd exits cleanly on SIGTERM";
  for (auto& worker : workers_) EXPECT_EQ(worker->Stop(), 0) << "workers exit cleanly on SIGTERM";
}

// TLS on every hop: quenchd serves with a certificate, the worker and the CLI verify it with
// the CA; a plaintext client cannot talk to it.
TEST(ServiceTlsTest, JobRunsOverTlsAndPlaintextIsRefused) {
  if (!std::filesystem::exists(SharedPath("models/stories260K"))) {
    GTEST_SKIP() << "missing fixture " << SharedPath("models/stories260K");
  }
  if (RunCommand("command -v openssl").exit_code != 0) {
    GTEST_SKIP() << "openssl is missing (scripts/setup installs it)";
  }
  TempDir dir;
  const std::string key = (dir / "key.pem").string(), cert = (dir / "cert.pem").string();
  auto made = RunCommand(
      "openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=localhost "
      "-addext subjectAltName=DNS:localhost,IP:127.0.0.1 -keyout " +
      key + " -out " + cert);
  ASSERT_EQ(made.exit_code, 0) << made.output;
  const auto shared = std::filesystem::canonical(SharedPath(""));
  testing::DaemonProcess daemon(
      kQuenchd,
      {"--listen", "127.0.0.1:0", "--http-listen", "", "--data-dir", (dir / "data").string(),
       "--model-root", shared.string(), "--tls-cert", cert, "--tls-key", key, "--ready-file",
       (dir / "ready.json").string()},
      dir / "quenchd.log");
  const nlohmann::json ready = daemon.WaitReady(dir / "ready.json");
  ASSERT_TRUE(ready.is_object()) << "quenchd did not start";
  const std::string address = "localhost:" + std::to_string(ready["grpc_port"].get<int>());
  testing::DaemonProcess worker(kWorker, {"--coordinator", address, "--tls-ca", cert},
                                dir / "worker.log");
  const auto log_text = [&] {
    std::ifstream log(dir / "quenchd.log");
    return std::string((std::istreambuf_iterator<char>(log)), {});
  };
  for (int i = 0; i < 400 && log_text().find("connected from") == std::string::npos; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(25));
  }
  ASSERT_NE(log_text().find("connected from"), std::string::npos) << "the worker did not connect";
  ASSERT_TRUE(WriteSmallRecipe("gptq-w4g32", dir / "gptq.yaml"));
  auto submitted =
      RunCommand(kQuench + " submit --server " + address + " --tls-ca " + cert + " --model " +
                 (shared / "models/stories260K").string() + " --preset gptq-w4g32 --calib " +
                 (shared / "data/stories260K-calib.jsonl").string() + " --wait --json");
  EXPECT_EQ(submitted.exit_code, 0) << submitted.output;
  const nlohmann::json result = LastJsonLine(submitted.output);
  ASSERT_TRUE(result.is_object()) << submitted.output.substr(submitted.output.size() - 2000);
  EXPECT_EQ(result["state"], "SUCCEEDED");
  EXPECT_NE(log_text().find("calibration shards on 1 workers"), std::string::npos) << log_text();
  auto plaintext = RunCommand(kQuench + " list --server " + address);
  EXPECT_EQ(plaintext.exit_code, 5) << plaintext.output;  // no TLS handshake: unavailable
}

}  // namespace
}  // namespace quench
