// Faults a long job meets (DESIGN §6), with real processes: quenchd killed with SIGKILL at a
// random block and started again resumes the job after its checkpointed blocks — without
// solving them again; one of three workers killed with SIGKILL (or frozen with SIGSTOP, so only
// its missing heartbeats tell) at a random moment has its tasks and shards taken over. Every
// job's artifacts are byte-identical to `quench local`'s.
// QUENCH_FAULT_RUNS sets the number of runs (default 3; the figure is 10).
#include <gtest/gtest.h>

#include <csignal>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <thread>

#include "core/report/html_report.h"
#include "core/util/sha256.h"
#include "nlohmann/json.hpp"
#include "tests/cli/daemon_process.h"
#include "tests/cli/run_command.h"
#include "tests/core/test_paths.h"

namespace quench {
namespace {

namespace fs = std::filesystem;
using testing::LastJsonLine;
using testing::RunCommand;
using testing::SharedPath;
using testing::TempDir;

const std::string kQuench = testing::QuenchBinary();
const std::string kQuenchd = testing::QuenchdBinary();
const std::string kWorker = testing::WorkerBinary();

// Failures recorded so far in the running test: a run counts as clean when it adds none.
int FailureCount() {
  return ::testing::UnitTest::GetInstance()->current_test_info()->result()->total_part_count();
}

int FaultRuns() {
  const char* runs = std::getenv("QUENCH_FAULT_RUNS");
  return runs != nullptr ? std::max(1, std::atoi(runs)) : 3;
}

std::string ReadAll(const fs::path& path) {
  std::ifstream in(path);
  return std::string((std::istreambuf_iterator<char>(in)), {});
}

// A free loopback port: quenchd restarts on the same one, where its workers look for it.
int FreePort(const fs::path& dir) {
  testing::DaemonProcess probe(
      kQuenchd,
      {"--listen", "127.0.0.1:0", "--http-listen", "", "--data-dir", (dir / "probe").string(),
       "--ready-file", (dir / "probe.json").string()},
      dir / "probe.log");
  const nlohmann::json ready = probe.WaitReady(dir / "probe.json");
  return ready.is_object() ? ready["grpc_port"].get<int>() : 0;
}

class FaultTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!fs::exists(SharedPath("models/stories260K")) ||
        !fs::exists(SharedPath("data/stories260K-calib.jsonl"))) {
      GTEST_SKIP() << "missing fixture " << SharedPath("models/stories260K");
    }
    shared_ = fs::canonical(SharedPath(""));
    auto shown = RunCommand(kQuench + " recipe show gptq-w4g32");
    ASSERT_EQ(shown.exit_code, 0);
    const size_t samples = shown.output.find("samples: 128");
    ASSERT_NE(samples, std::string::npos);
    std::ofstream(dir_ / "recipe.yaml") << shown.output.replace(samples, 12, "samples: 16");
    auto local = RunCommand(kQuench + " local quantize --model " + Model() + " --recipe " +
                            (dir_ / "recipe.yaml").string() + " --calib " + Calib() +
                            " --shards 4 --out " + (dir_ / "reference").string());
    ASSERT_EQ(local.exit_code, 0) << local.output;
  }

  std::string Model() const { return (shared_ / "models/stories260K").string(); }
  std::string Calib() const { return (shared_ / "data/stories260K-calib.jsonl").string(); }

  std::unique_ptr<testing::DaemonProcess> StartQuenchd(const fs::path& run, int port,
                                                       const std::string& log) {
    fs::remove(run / "ready.json");
    auto daemon = std::make_unique<testing::DaemonProcess>(
        kQuenchd,
        std::vector<std::string>{"--listen", "127.0.0.1:" + std::to_string(port), "--http-listen",
                                 "", "--data-dir", (run / "data").string(), "--model-root",
                                 shared_.string(), "--ready-file", (run / "ready.json").string(),
                                 "--worker-timeout", "1"},
        run / log);
    EXPECT_TRUE(daemon->WaitReady(run / "ready.json").is_object()) << ReadAll(run / log);
    return daemon;
  }

  // Every artifact but the reports has the reference's sha256.
  void ExpectReferenceBytes(const fs::path& out) {
    int compared = 0;
    for (const auto& entry : fs::recursive_directory_iterator(dir_ / "reference")) {
      if (!entry.is_regular_file() || IsRunReport(entry.path().filename().string())) continue;
      const fs::path relative = fs::relative(entry.path(), dir_ / "reference");
      EXPECT_EQ(Sha256FileHex(out / relative).value_or("missing"),
                Sha256FileHex(entry.path()).value_or("?"))
          << relative;
      ++compared;
    }
    EXPECT_GE(compared, 3);
  }

  void RunCoordinatorRestarts(int signal);

  TempDir dir_;
  fs::path shared_;
};

// quenchd stopped at a random block — SIGKILL (a crash) or SIGTERM (a drain, which must exit 0
// within 10 s) — and started again on the same port and data directory.
void FaultTest::RunCoordinatorRestarts(int signal) {
  std::mt19937 random(std::random_device{}());
  const int runs = signal == SIGKILL ? FaultRuns() : std::max(1, FaultRuns() / 3);
  int resumed_identical = 0;
  double clean_seconds = 0.0;
  for (int r = 0; r < runs; ++r) {
    SCOPED_TRACE("run " + std::to_string(r));
    const int failures_before = FailureCount();
    const fs::path run =
        dir_ / (std::string(signal == SIGKILL ? "kill" : "term") + std::to_string(r));
    fs::create_directories(run);
    const int port = FreePort(run);
    ASSERT_NE(port, 0);
    const std::string server = " --server 127.0.0.1:" + std::to_string(port);
    auto quenchd = StartQuenchd(run, port, "quenchd-1.log");
    std::vector<std::unique_ptr<testing::DaemonProcess>> workers;
    for (int i = 0; i < 2; ++i) {
      workers.push_back(std::make_unique<testing::DaemonProcess>(
          kWorker,
          std::vector<std::string>{"--coordinator", "127.0.0.1:" + std::to_string(port), "--name",
                                   "w" + std::to_string(i), "--heartbeat", "0.2"},
          run / ("worker" + std::to_string(i) + ".log")));
    }
    for (int i = 0;
         i < 400 && ReadAll(run / "quenchd-1.log").find("w1: connected") == std::string::npos;
         ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(25));
    }
    const std::string submit = kQuench + " submit" + server + " --model " + Model() + " --recipe " +
                               (dir_ / "recipe.yaml").string() + " --calib " + Calib() +
                               " --shards 4 --json";
    if (r == 0) {  // a clean job on the same daemons, for the time a restart adds
      const auto clean_start = std::chrono::steady_clock::now();
      auto clean = RunCommand(submit + " --wait");
      ASSERT_EQ(clean.exit_code, 0) << clean.output;
      clean_seconds =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - clean_start).count();
    }
    const auto start = std::chrono::steady_clock::now();
    auto submitted = RunCommand(submit);
    ASSERT_EQ(submitted.exit_code, 0) << submitted.output;
    const std::string job_id = LastJsonLine(submitted.output)["job_id"];

    // A client watching through the restart: it reconnects and sees the job to its end.
    testing::DaemonProcess watcher(
        kQuench, {"watch", "--server", "127.0.0.1:" + std::to_string(port), job_id, "--json"},
        run / "watcher.log");
    // Killed once the job has finished a random number of its 5 blocks (1..4).
    const int kill_after = 1 + static_cast<int>(random() % 4);
    bool finished_before_stop = false;  // SIGTERM lets a job past its last block finish
    int finished_at_kill = -1;
    for (int i = 0; i < 2000; ++i) {
      auto status = RunCommand(kQuench + " status" + server + " " + job_id + " --json");
      const nlohmann::json job = nlohmann::json::parse(status.output, nullptr, false);
      ASSERT_TRUE(job.is_object()) << status.output;
      if (job.value("finished_blocks", 0) >= kill_after) {
        finished_at_kill = job["finished_blocks"];
        if (signal == SIGKILL) {
          quenchd->Kill();
          // Rarely the last block and the outputs finish between the poll and the kill.
          finished_before_stop =
              ReadAll(run / "quenchd-1.log").find("succeeded in") != std::string::npos;
        } else {
          const auto stop_start = std::chrono::steady_clock::now();
          EXPECT_EQ(quenchd->Stop(), 0) << "quenchd exits 0 on SIGTERM";
          const double stop_seconds =
              std::chrono::duration<double>(std::chrono::steady_clock::now() - stop_start).count();
          EXPECT_LT(stop_seconds, 10.0);
          // The runner stops at its next block; past the last one the job may finish instead.
          const std::string first_log = ReadAll(run / "quenchd-1.log");
          finished_before_stop = first_log.find("succeeded in") != std::string::npos;
          EXPECT_TRUE(finished_before_stop ||
                      first_log.find("interrupted by shutdown; queued again") != std::string::npos)
              << first_log;
          std::cout << "quenchd drained in " << stop_seconds << " s\n";
        }
        break;
      }
      ASSERT_NE(job.value("state", ""), "SUCCEEDED") << "the job ended before the kill";
    }
    ASSERT_GE(finished_at_kill, 1);

    quenchd = StartQuenchd(run, port, "quenchd-2.log");
    const fs::path out = run / "out";
    auto watched = RunCommand(kQuench + " watch" + server + " " + job_id + " --json");
    ASSERT_EQ(watched.exit_code, 0) << watched.output;
    EXPECT_EQ(watcher.Wait(), 0) << ReadAll(run / "watcher.log");
    EXPECT_NE(ReadAll(run / "watcher.log").find("SUCCEEDED"), std::string::npos);
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    auto downloaded =
        RunCommand(kQuench + " download" + server + " " + job_id + " --out " + out.string());
    ASSERT_EQ(downloaded.exit_code, 0) << downloaded.output;
    ExpectReferenceBytes(out);

    if (finished_before_stop) {
      std::cout << "run " << r << ": the job finished before quenchd stopped\n";
      continue;
    }
    // The restarted coordinator restored the blocks finished before the kill (at least those
    // the status showed) and solved only the rest.
    const std::string log = ReadAll(run / "quenchd-2.log");
    // Workers come back on their own backoff; the job waits for them rather than running here.
    EXPECT_NE(log.find("calibration shards on "), std::string::npos)
        << "the resumed job waits for its reconnecting workers: " << log;
    const size_t resuming = log.find("resuming after ");
    ASSERT_NE(resuming, std::string::npos) << log;
    const int restored = std::atoi(log.c_str() + resuming + std::string("resuming after ").size());
    EXPECT_GE(restored, finished_at_kill);
    int restored_events = 0, done_events = 0;
    for (size_t at = 0;
         (at = watched.output.find("restored from its checkpoint", at)) != std::string::npos;
         ++at) {
      ++restored_events;
    }
    for (size_t at = 0; (at = watched.output.find(" done\"", at)) != std::string::npos; ++at) {
      ++done_events;
    }
    EXPECT_EQ(restored_events, restored) << watched.output;
    std::cout << "run " << r << ": killed after block " << finished_at_kill << ", restored "
              << restored << ", solved again " << done_events << "; job " << seconds
              << " s (a clean one " << clean_seconds << " s)\n";
    if (FailureCount() == failures_before) ++resumed_identical;
  }
  std::cout << resumed_identical << "/" << runs << " coordinator "
            << (signal == SIGKILL ? "kills" : "SIGTERMs") << " resumed to identical artifacts\n";
}

TEST_F(FaultTest, CoordinatorKilledAtARandomBlockResumesWithoutRedoingBlocks) {
  RunCoordinatorRestarts(SIGKILL);
}

TEST_F(FaultTest, CoordinatorStoppedAtARandomBlockDrainsAndResumes) {
  RunCoordinatorRestarts(SIGTERM);
}

// One of three workers dies (SIGKILL) or freezes (SIGSTOP) at a random moment of the job.
void RunWorkerFaults(const fs::path& dir, const fs::path& shared, const std::string& recipe,
                     const std::string& calib, int signal,
                     const std::function<void(const fs::path&)>& expect_reference_bytes) {
  std::mt19937 random(std::random_device{}());
  const int runs = FaultRuns();
  int identical = 0, faulted = 0;
  for (int r = 0; r < runs; ++r) {
    SCOPED_TRACE("run " + std::to_string(r));
    const int failures_before = FailureCount();
    const fs::path run = dir / (std::string(strsignal(signal)).substr(0, 4) + std::to_string(r));
    fs::create_directories(run);
    testing::DaemonProcess quenchd(
        kQuenchd,
        {"--listen", "127.0.0.1:0", "--http-listen", "", "--data-dir", (run / "data").string(),
         "--model-root", shared.string(), "--ready-file", (run / "ready.json").string(),
         "--worker-timeout", "1"},
        run / "quenchd.log");
    const nlohmann::json ready = quenchd.WaitReady(run / "ready.json");
    ASSERT_TRUE(ready.is_object());
    const std::string address = "127.0.0.1:" + std::to_string(ready["grpc_port"].get<int>());
    std::vector<std::unique_ptr<testing::DaemonProcess>> workers;
    for (int i = 0; i < 3; ++i) {
      workers.push_back(std::make_unique<testing::DaemonProcess>(
          kWorker,
          std::vector<std::string>{"--coordinator", address, "--name", "w" + std::to_string(i),
                                   "--heartbeat", "0.2"},
          run / ("worker" + std::to_string(i) + ".log")));
    }
    for (int i = 0;
         i < 400 && ReadAll(run / "quenchd.log").find("w2: connected") == std::string::npos; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(25));
    }
    const std::string server = " --server " + address;
    auto submitted = RunCommand(kQuench + " submit" + server + " --model " +
                                (shared / "models/stories260K").string() + " --recipe " + recipe +
                                " --calib " + calib + " --shards 4 --json");
    ASSERT_EQ(submitted.exit_code, 0) << submitted.output;
    const std::string job_id = LastJsonLine(submitted.output)["job_id"];
    // A random worker, a random moment: after 0..3 finished blocks and up to 150 ms more.
    const int victim = static_cast<int>(random() % 3);
    const int after_blocks = static_cast<int>(random() % 4);
    for (int i = 0; i < 2000; ++i) {
      auto status = RunCommand(kQuench + " status" + server + " " + job_id + " --json");
      const nlohmann::json job = nlohmann::json::parse(status.output, nullptr, false);
      ASSERT_TRUE(job.is_object()) << status.output;
      if (job.value("finished_blocks", 0) >= after_blocks || job.value("state", "") == "SUCCEEDED")
        break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(random() % 150));
    const auto fault_at = std::chrono::steady_clock::now();
    ::kill(workers[victim]->pid(), signal);
    auto watched = RunCommand(kQuench + " watch" + server + " " + job_id + " --json");
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - fault_at).count();
    if (signal == SIGSTOP) ::kill(workers[victim]->pid(), SIGKILL);
    if (signal == SIGTERM) {
      EXPECT_EQ(workers[victim]->Wait(), 0) << "a worker exits 0 on SIGTERM";
    }
    ASSERT_EQ(watched.exit_code, 0) << watched.output << ReadAll(run / "quenchd.log");
    const fs::path out = run / "out";
    auto downloaded =
        RunCommand(kQuench + " download" + server + " " + job_id + " --out " + out.string());
    ASSERT_EQ(downloaded.exit_code, 0) << downloaded.output;
    expect_reference_bytes(out);
    const std::string log = ReadAll(run / "quenchd.log");
    const bool retried = log.find("attempt 1 failed") != std::string::npos;
    faulted += retried;
    const bool moved = log.find("moves to worker") != std::string::npos;
    std::cout << "run " << r << ": w" << victim << " after block " << after_blocks << ": "
              << (retried ? "a task in flight retried elsewhere"
                  : moved ? "its shards moved before their next task"
                          : "the job was done before it mattered")
              << "; the job finished " << seconds << " s after the fault\n";
    if (FailureCount() == failures_before) ++identical;
  }
  std::cout << identical << "/" << runs << " jobs identical after a worker " << strsignal(signal)
            << " (" << faulted << " lost a task in flight)\n";
}

TEST_F(FaultTest, WorkerKilledAtARandomMomentIsReplacedAndTheJobFinishesIdentical) {
  RunWorkerFaults(dir_.path(), shared_, (dir_ / "recipe.yaml").string(), Calib(), SIGKILL,
                  [this](const fs::path& out) { ExpectReferenceBytes(out); });
}

TEST_F(FaultTest, WorkerStoppedWithSigtermHandsBackItsTaskAndTheJobFinishesIdentical) {
  RunWorkerFaults(dir_.path(), shared_, (dir_ / "recipe.yaml").string(), Calib(), SIGTERM,
                  [this](const fs::path& out) { ExpectReferenceBytes(out); });
}

TEST_F(FaultTest, FrozenWorkerIsLostByItsHeartbeatsAndTheJobFinishesIdentical) {
  RunWorkerFaults(dir_.path(), shared_, (dir_ / "recipe.yaml").string(), Calib(), SIGSTOP,
                  [this](const fs::path& out) { ExpectReferenceBytes(out); });
}

// The fault-injection harness (DESIGN §6): clients submit jobs (and resubmit some request ids)
// while a chaos thread kills workers, kills the coordinator and freezes workers at random; the
// history of submissions and outcomes is checked afterwards — no acknowledged job lost, no job
// nobody submitted, one job per request id, every job ended, every succeeded job's artifacts
// byte-identical to a clean run's. QUENCH_CHAOS_SECONDS sets how long the chaos lasts (10 s).
TEST_F(FaultTest, ChaosHistoryKeepsEveryPromise) {
  const char* seconds_env = std::getenv("QUENCH_CHAOS_SECONDS");
  const double chaos_seconds = seconds_env != nullptr ? std::atof(seconds_env) : 10.0;
  const fs::path run = dir_ / "chaos";
  fs::create_directories(run);
  const int port = FreePort(run);
  ASSERT_NE(port, 0);
  const std::string address = "127.0.0.1:" + std::to_string(port);
  const std::string server = " --server " + address;
  std::mutex daemons_mutex;  // the chaos thread replaces processes; nobody else touches them
  int quenchd_starts = 0;
  auto quenchd = StartQuenchd(run, port, "quenchd-0.log");
  const auto start_worker = [&](int i) {
    static std::atomic<int> starts{0};
    return std::make_unique<testing::DaemonProcess>(
        kWorker,
        std::vector<std::string>{"--coordinator", address, "--name", "w" + std::to_string(i),
                                 "--heartbeat", "0.2"},
        run / ("worker" + std::to_string(i) + "-" + std::to_string(starts++) + ".log"));
  };
  std::vector<std::unique_ptr<testing::DaemonProcess>> workers;
  for (int i = 0; i < 3; ++i) workers.push_back(start_worker(i));

  struct Submission {
    std::string request_id;
    std::string job_id;  // empty: never acknowledged
  };
  std::mutex history_mutex;
  std::vector<Submission> history;
  std::vector<std::string> violations;
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::duration<double>(chaos_seconds);
  const auto client = [&](int c) {
    std::mt19937 random(1000 + c);
    for (int n = 0; std::chrono::steady_clock::now() < deadline; ++n) {
      const std::string request_id = "chaos-" + std::to_string(c) + "-" + std::to_string(n);
      const std::string submit = kQuench + " submit" + server + " --model " + Model() +
                                 " --recipe " + (dir_ / "recipe.yaml").string() + " --calib " +
                                 Calib() + " --shards 4 --request-id " + request_id + " --json";
      // Retried with the same request id until acknowledged; a second submission of an
      // acknowledged id must name the same job.
      std::string job_id;
      for (int attempt = 0; attempt < 3 || (job_id.empty() && attempt < 200); ++attempt) {
        auto submitted = RunCommand(submit);
        const nlohmann::json answer = LastJsonLine(submitted.output);
        if (submitted.exit_code != 0 || !answer.is_object()) {
          std::this_thread::sleep_for(std::chrono::milliseconds(200));
          continue;
        }
        const std::string id = answer.value("job_id", "");
        if (job_id.empty()) {
          job_id = id;
          if (random() % 3 != 0) break;  // a third of the ids are submitted again
        } else {
          if (id != job_id) {
            std::lock_guard lock(history_mutex);
            violations.push_back(request_id + " named " + job_id + " then " + id);
          }
          break;
        }
      }
      {
        std::lock_guard lock(history_mutex);
        history.push_back({request_id, job_id});
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(1000 + random() % 1000));
    }
  };
  int worker_kills = 0, coordinator_kills = 0, freezes = 0;
  std::thread chaos([&] {
    std::mt19937 random(std::random_device{}());
    while (std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(700 + random() % 800));
      std::lock_guard lock(daemons_mutex);
      const int victim = static_cast<int>(random() % 3);
      switch (random() % 3) {
        case 0:  // a worker dies and comes back
          workers[victim]->Kill();
          ++worker_kills;
          std::this_thread::sleep_for(std::chrono::milliseconds(300));
          workers[victim] = start_worker(victim);
          break;
        case 1:  // the coordinator dies and is started again
          quenchd->Kill();
          ++coordinator_kills;
          quenchd = StartQuenchd(run, port, "quenchd-" + std::to_string(++quenchd_starts) + ".log");
          break;
        default:  // a worker freezes past its heartbeat timeout (a cut connection), then thaws
          ::kill(workers[victim]->pid(), SIGSTOP);
          ++freezes;
          std::this_thread::sleep_for(std::chrono::milliseconds(1500));
          ::kill(workers[victim]->pid(), SIGCONT);
          break;
      }
    }
  });
  std::thread client0(client, 0), client1(client, 1);
  client0.join();
  client1.join();
  chaos.join();

  // Quiet now: every job must end.
  nlohmann::json jobs;
  for (int i = 0; i < 600; ++i) {
    jobs = nlohmann::json::parse(
        RunCommand(kQuench + " list" + server + " --limit 0 --json").output, nullptr, false);
    bool all_ended = jobs.is_object();
    if (all_ended) {
      for (const auto& job : jobs["jobs"]) {
        all_ended = all_ended && job["state"] != "QUEUED" && job["state"] != "RUNNING";
      }
    }
    if (all_ended) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  ASSERT_TRUE(jobs.is_object());
  std::map<std::string, std::string> reference;  // artifact → sha256 of the clean run
  for (const auto& entry : fs::recursive_directory_iterator(dir_ / "reference")) {
    if (!entry.is_regular_file() || IsRunReport(entry.path().filename().string())) continue;
    reference[fs::relative(entry.path(), dir_ / "reference").string()] =
        Sha256FileHex(entry.path()).value_or("?");
  }
  std::set<std::string> submitted_ids, listed_job_ids, listed_request_ids;
  for (const Submission& submission : history) submitted_ids.insert(submission.request_id);
  int succeeded = 0;
  for (const auto& job : jobs["jobs"]) {
    const std::string request_id = job["request_id"], job_id = job["job_id"];
    listed_job_ids.insert(job_id);
    if (!submitted_ids.count(request_id)) violations.push_back(job_id + ": nobody submitted it");
    if (!listed_request_ids.insert(request_id).second) {
      violations.push_back(request_id + ": more than one job");
    }
    const std::string state = job["state"];
    if (state == "QUEUED" || state == "RUNNING") violations.push_back(job_id + " never ended");
    if (state == "SUCCEEDED") {
      ++succeeded;
      int compared = 0;
      for (const auto& artifact : job["artifacts"]) {
        auto expected = reference.find(artifact["name"].get<std::string>());
        if (expected == reference.end()) continue;
        ++compared;
        if (expected->second != artifact["sha256"]) {
          violations.push_back(job_id + ": " + expected->first + " differs from a clean run's");
        }
      }
      if (compared != static_cast<int>(reference.size())) {
        violations.push_back(job_id + ": artifacts missing");
      }
    } else if (state == "FAILED") {
      std::cout << "job " << job_id << " FAILED: " << job["message"] << "\n";
    }
  }
  int acknowledged = 0;
  for (const Submission& submission : history) {
    if (submission.job_id.empty()) continue;
    ++acknowledged;
    if (!listed_job_ids.count(submission.job_id)) {
      violations.push_back(submission.job_id + " was acknowledged and then lost");
    }
  }
  for (const std::string& violation : violations) ADD_FAILURE() << violation;
  EXPECT_GT(acknowledged, 0);
  std::cout << "chaos " << chaos_seconds << " s: " << worker_kills << " worker kills, "
            << coordinator_kills << " coordinator kills, " << freezes << " freezes; "
            << history.size() << " request ids, " << acknowledged << " acknowledged, "
            << jobs["jobs"].size() << " jobs, " << succeeded << " succeeded identical, "
            << violations.size() << " violations\n";
  std::lock_guard lock(daemons_mutex);
}

// Cancel in each phase of a job: queued, quantizing (its workers drop its shards), evaluating,
// and after it ended (unchanged). Each cancelled job ends CANCELLED without artifacts.
TEST_F(FaultTest, CancelInEachPhaseEndsTheJobAndReleasesItsShards) {
  testing::DaemonProcess quenchd(
      kQuenchd,
      {"--listen", "127.0.0.1:0", "--http-listen", "", "--data-dir", (dir_ / "data").string(),
       "--model-root", shared_.string(), "--ready-file", (dir_ / "ready.json").string()},
      dir_ / "quenchd.log");
  const nlohmann::json ready = quenchd.WaitReady(dir_ / "ready.json");
  ASSERT_TRUE(ready.is_object());
  const std::string address = "127.0.0.1:" + std::to_string(ready["grpc_port"].get<int>());
  testing::DaemonProcess worker(kWorker, {"--coordinator", address, "--name", "w0"},
                                dir_ / "worker.log");
  for (int i = 0;
       i < 400 && ReadAll(dir_ / "quenchd.log").find("w0: connected") == std::string::npos; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(25));
  }
  const std::string server = " --server " + address;
  const std::string submit = kQuench + " submit" + server + " --model " + Model() + " --recipe " +
                             (dir_ / "recipe.yaml").string() + " --calib " + Calib() + " --eval " +
                             (shared_ / "data/stories260K-eval.jsonl").string() + " --json";
  const auto job_of = [&](const std::string& id) {
    return nlohmann::json::parse(
        RunCommand(kQuench + " status" + server + " " + id + " --json").output, nullptr, false);
  };
  const auto cancel = [&](const std::string& id) {
    return RunCommand(kQuench + " cancel" + server + " " + id);
  };
  const auto wait_until = [&](const std::string& id,
                              const std::function<bool(const nlohmann::json&)>& done) {
    for (int i = 0; i < 3000; ++i) {
      const nlohmann::json job = job_of(id);
      if (job.is_object() && done(job)) return job;
    }
    return nlohmann::json();
  };
  const auto expect_cancelled = [&](const std::string& id, const char* phase) {
    const nlohmann::json job = wait_until(id, [](const nlohmann::json& j) {
      return j.value("state", "") != "RUNNING" && j.value("state", "") != "QUEUED";
    });
    EXPECT_EQ(job.value("state", ""), "CANCELLED") << phase << ": " << job.dump();
    EXPECT_TRUE(job["artifacts"].empty()) << phase;
    EXPECT_FALSE(fs::exists(dir_ / "data" / "artifacts" / id)) << phase;
  };

  // Queued: one runner, so the second job waits behind the first.
  const std::string first = LastJsonLine(RunCommand(submit).output)["job_id"];
  const std::string second = LastJsonLine(RunCommand(submit).output)["job_id"];
  EXPECT_EQ(job_of(second)["state"], "QUEUED");
  EXPECT_EQ(cancel(second).exit_code, 0);
  expect_cancelled(second, "queued");

  // Quantizing: once a block is done.
  ASSERT_FALSE(wait_until(first, [](const nlohmann::json& j) {
                 return j.value("finished_blocks", 0) >= 1;
               }).is_null());
  EXPECT_EQ(cancel(first).exit_code, 0);
  expect_cancelled(first, "quantizing");
  for (int i = 0;
       i < 200 && ReadAll(dir_ / "worker.log").find(first + ": released") == std::string::npos;
       ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(25));
  }
  EXPECT_NE(ReadAll(dir_ / "worker.log").find(first + ": released"), std::string::npos)
      << "the worker freed the cancelled job's shards";

  // Evaluating: the quantized model is being compared with the original.
  const std::string third = LastJsonLine(RunCommand(submit).output)["job_id"];
  const nlohmann::json evaluating = wait_until(third, [](const nlohmann::json& j) {
    return j.value("message", "").find("evaluate") != std::string::npos ||
           j.value("state", "") == "SUCCEEDED";
  });
  ASSERT_EQ(evaluating.value("state", ""), "RUNNING") << "evaluation was too quick to catch";
  EXPECT_EQ(cancel(third).exit_code, 0);
  expect_cancelled(third, "evaluating");

  // Ended: a cancel changes nothing.
  auto fourth = RunCommand(submit + " --wait");
  ASSERT_EQ(fourth.exit_code, 0) << fourth.output;
  const std::string done = LastJsonLine(fourth.output)["job_id"];
  cancel(done);
  EXPECT_EQ(job_of(done)["state"], "SUCCEEDED");
}

// A disk that fills while a job writes its outputs (RLIMIT_FSIZE: writes past the limit fail
// with EFBIG): that job FAILED with the reason, nothing of it in the artifact store, and the
// daemon goes on to run the next job.
TEST_F(FaultTest, FullDiskFailsTheJobCleanlyAndTheDaemonServesTheNext) {
  const fs::path small = dir_ / "small-models";
  auto made = RunCommand(kQuench +
                         " testgen --hidden 64 --intermediate 128 --layers 1 --heads 4 "
                         "--kv-heads 2 --vocab 96 --dtype F16 --seed 1 --out " +
                         (small / "tiny").string());
  ASSERT_EQ(made.exit_code, 0) << made.output;
  // stories260K's fake_quant/model.safetensors is ~1 MB; the tiny model's outputs a few KB.
  testing::DaemonProcess quenchd(
      "/usr/bin/prlimit",
      {"--fsize=800000", kQuenchd, "--listen", "127.0.0.1:0", "--http-listen", "", "--data-dir",
       (dir_ / "data").string(), "--model-root", shared_.string(), "--model-root", small.string(),
       "--ready-file", (dir_ / "ready.json").string()},
      dir_ / "quenchd.log");
  const nlohmann::json ready = quenchd.WaitReady(dir_ / "ready.json");
  ASSERT_TRUE(ready.is_object()) << ReadAll(dir_ / "quenchd.log");
  const std::string server = " --server 127.0.0.1:" + std::to_string(ready["grpc_port"].get<int>());
  auto big = RunCommand(kQuench + " submit" + server + " --model " + Model() + " --recipe " +
                        (dir_ / "recipe.yaml").string() + " --calib " + Calib() + " --wait --json");
  EXPECT_EQ(big.exit_code, 3) << "exit code 3: the job FAILED\n" << big.output;
  const nlohmann::json failed = LastJsonLine(big.output);
  ASSERT_TRUE(failed.is_object()) << big.output;
  EXPECT_EQ(failed["state"], "FAILED");
  EXPECT_NE(failed["message"].get<std::string>().find("too large"), std::string::npos)
      << failed["message"];
  // Nothing of the failed job was kept: no artifact directory, no temporary file.
  const fs::path store = dir_ / "data" / "artifacts";
  EXPECT_FALSE(fs::exists(store / failed["job_id"].get<std::string>()));

  auto next = RunCommand(kQuench + " submit" + server + " --model " + (small / "tiny").string() +
                         " --preset rtn-w4g32 --wait --json --out " + (dir_ / "tiny-out").string());
  EXPECT_EQ(next.exit_code, 0) << next.output << ReadAll(dir_ / "quenchd.log");
  EXPECT_EQ(LastJsonLine(next.output)["state"], "SUCCEEDED");
  EXPECT_TRUE(fs::exists(dir_ / "tiny-out" / "quench.safetensors"));
  EXPECT_EQ(quenchd.Stop(), 0) << "the daemon outlived the full disk";
}

}  // namespace
}  // namespace quench
