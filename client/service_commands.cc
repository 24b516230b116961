// The commands that talk to quenchd: submit, watch, status, list, cancel, download.
#include <unistd.h>
#include <filesystem>

#include <algorithm>
#include <iostream>
#include <random>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "client/artifact_download.h"
#include "client/commands.h"
#include "client/job_format.h"
#include "client/job_watch.h"
#include "client/service_client.h"
#include "core/util/status_macros.h"
#include "nlohmann/json.hpp"

namespace quench::cli {
namespace {

struct CommonFlags {
  ServiceConnection connection = ServiceConnection::FromEnvironment();
  bool json = false;
};

bool StderrIsTerminal() { return ::isatty(STDERR_FILENO) != 0; }

// A service subcommand: its help group, the exit-code footer, the connection flags.
CLI::App* AddServiceCommand(CLI::App& app, const std::string& name, const std::string& description,
                            const std::string& footer, CommonFlags& common) {
  CLI::App* cmd = app.add_subcommand(name, description);
  cmd->group(kServiceGroup);
  cmd->footer(absl::StrCat(footer, "\n\n", kExitCodesHelp));
  AddConnectionOptions(*cmd, common.connection);
  return cmd;
}

// The exit code of a run: the job's, or the failure's after reporting it.
int Conclude(std::string_view command, const absl::StatusOr<int>& outcome) {
  if (outcome.ok()) return *outcome;
  return ReportError(command, outcome.status(), ExitCodeFor(outcome.status()));
}

absl::StatusOr<v1::Job> GetJob(v1::JobService::Stub& stub, const ServiceConnection& connection,
                               const std::string& job_id) {
  v1::GetJobRequest request;
  request.set_job_id(job_id);
  QUENCH_ASSIGN_OR_RETURN(v1::GetJobResponse response,
                          CallJobService(stub, connection, &v1::JobService::Stub::GetJob, request));
  return std::move(*response.mutable_job());
}

// ---- submit ----

struct SubmitFlags : CommonFlags {
  std::string model;
  std::string recipe;
  std::string preset;
  std::string calib;
  std::string eval;
  int32_t shards = 0;
  std::string request_id;
  bool wait = false;
  std::string out;
};

// What a submission got as far as, for --json even when a later step failed.
struct SubmitOutcome {
  std::optional<v1::Job> job;
  bool created = true;
  bool downloaded = false;
};

// 128 random bits: each run of `quench submit` is a new job unless --request-id says otherwise.
std::string RandomRequestId() {
  std::random_device random;
  std::string id;
  for (int i = 0; i < 4; ++i) absl::StrAppend(&id, absl::Hex(random(), absl::kZeroPad8));
  return id;
}

// A relative path that exists here is sent absolute and canonical: client and coordinator
// usually share the file system (one machine, or a shared volume), and the coordinator refuses
// "..". Anything else is sent as given, for the coordinator to find under its model roots.
std::string PathForServer(const std::string& path) {
  if (path.empty() || std::filesystem::path(path).is_absolute()) return path;
  std::error_code error;
  const auto canonical = std::filesystem::canonical(path, error);
  return error ? path : canonical.string();
}

absl::StatusOr<v1::SubmitJobRequest> MakeSubmitRequest(const SubmitFlags& flags) {
  v1::SubmitJobRequest request;
  request.set_request_id(flags.request_id.empty() ? RandomRequestId() : flags.request_id);
  request.mutable_model()->set_local_path(PathForServer(flags.model));
  if (!flags.recipe.empty()) {
    // The server parses and validates the recipe: one parser, one set of rules.
    QUENCH_ASSIGN_OR_RETURN(*request.mutable_recipe(), ReadInputFile(flags.recipe, "--recipe"));
  } else {
    request.set_preset(flags.preset);
  }
  request.set_calibration_path(PathForServer(flags.calib));
  request.set_evaluation_path(PathForServer(flags.eval));
  request.set_calibration_shards(flags.shards);
  return request;
}

absl::StatusOr<int> RunSubmit(const SubmitFlags& flags, SubmitOutcome& outcome) {
  QUENCH_ASSIGN_OR_RETURN(const v1::SubmitJobRequest request, MakeSubmitRequest(flags));
  QUENCH_ASSIGN_OR_RETURN(auto stub, MakeJobServiceStub(flags.connection));
  QUENCH_ASSIGN_OR_RETURN(
      v1::SubmitJobResponse submitted,
      CallJobService(*stub, flags.connection, &v1::JobService::Stub::SubmitJob, request));
  outcome.job = submitted.job();
  outcome.created = submitted.created();
  const std::string job_id = submitted.job().job_id();
  if (!flags.json) std::cout << job_id << "\n" << std::flush;
  if (!submitted.created()) {
    std::cerr << "request id " << request.request_id()
              << " was submitted before: this is its job, not a new one\n";
  }
  if (!flags.wait && flags.out.empty()) return static_cast<int>(ExitCode::kOk);

  // With --json, stdout is kept for the final object: the events go to stderr.
  std::ostream& log = flags.json ? std::cerr : std::cout;
  WatchPrinter printer(log, /*json=*/false, StderrIsTerminal());
  QUENCH_ASSIGN_OR_RETURN(
      const v1::Job ended,
      WatchUntilDone(
          *stub, flags.connection, job_id,
          [&printer](const v1::WatchJobResponse& event) { printer.OnEvent(event); },
          [&printer](const std::string& line) { printer.Notice(line); }));
  printer.Finish(ended);
  outcome.job = ended;
  // A watch event need not carry the artifacts and report; GetJob has the whole record.
  QUENCH_ASSIGN_OR_RETURN(outcome.job, GetJob(*stub, flags.connection, job_id));
  if (!flags.out.empty() && outcome.job->state() == v1::JOB_STATE_SUCCEEDED) {
    QUENCH_RETURN_IF_ERROR(DownloadJobArtifacts(*stub, flags.connection, *outcome.job, flags.out,
                                                "", !flags.json && StderrIsTerminal(), log)
                               .status());
    outcome.downloaded = true;
  }
  return ExitCodeFor(outcome.job->state());
}

nlohmann::ordered_json SubmitJson(const SubmitFlags& flags, const SubmitOutcome& outcome,
                                  const absl::Status& status) {
  const v1::Job& job = *outcome.job;
  nlohmann::ordered_json out;
  out["job_id"] = job.job_id();
  out["state"] = StateName(job.state());
  out["message"] = job.message();
  out["created"] = outcome.created;
  out["artifacts"] = ArtifactsJson(job);
  if (outcome.downloaded) out["out"] = flags.out;
  if (auto report = ParseReport(job)) out["report"] = std::move(*report);
  if (!status.ok()) out["error"] = std::string(status.message());
  return out;
}

// ---- watch ----

struct WatchFlags : CommonFlags {
  std::string job_id;
};

absl::StatusOr<int> RunWatch(const WatchFlags& flags) {
  QUENCH_ASSIGN_OR_RETURN(auto stub, MakeJobServiceStub(flags.connection));
  WatchPrinter printer(std::cout, flags.json, StderrIsTerminal());
  QUENCH_ASSIGN_OR_RETURN(
      const v1::Job job,
      WatchUntilDone(
          *stub, flags.connection, flags.job_id,
          [&printer](const v1::WatchJobResponse& event) { printer.OnEvent(event); },
          [&printer](const std::string& line) { printer.Notice(line); }));
  printer.Finish(job);
  return ExitCodeFor(job.state());
}

// ---- status ----

struct JobFlags : CommonFlags {
  std::string job_id;
};

absl::StatusOr<int> RunStatus(const JobFlags& flags) {
  QUENCH_ASSIGN_OR_RETURN(auto stub, MakeJobServiceStub(flags.connection));
  QUENCH_ASSIGN_OR_RETURN(const v1::Job job, GetJob(*stub, flags.connection, flags.job_id));
  if (flags.json) {
    std::cout << JobJson(job, /*with_report=*/true).dump(2) << "\n";
  } else {
    PrintJob(std::cout, job);
  }
  return ExitCodeFor(job.state());
}

// ---- list ----

struct ListFlags : CommonFlags {
  std::string state;
  int64_t limit = 50;
};

// At most `max_bytes` of `text`, not cutting a UTF-8 character.
std::string Truncate(const std::string& text, size_t max_bytes) {
  if (text.size() <= max_bytes) return text;
  size_t end = max_bytes - 3;
  while (end > 0 && (static_cast<unsigned char>(text[end]) & 0xC0) == 0x80) --end;
  return text.substr(0, end) + "...";
}

void PrintJobTable(const std::vector<v1::Job>& jobs) {
  size_t id_width = 6;
  for (const v1::Job& job : jobs) id_width = std::max(id_width, job.job_id().size());
  const auto row = [id_width](absl::string_view id, absl::string_view state,
                              absl::string_view progress, absl::string_view created,
                              absl::string_view message) {
    std::cout << absl::StrFormat("%-*s  %-9s  %8s  %-19s  %s\n", static_cast<int>(id_width), id,
                                 state, progress, created, message);
  };
  row("JOB ID", "STATE", "PROGRESS", "CREATED", "MESSAGE");
  for (const v1::Job& job : jobs) {
    row(job.job_id(), StateName(job.state()), absl::StrFormat("%.0f%%", 100.0 * job.progress()),
        FormatUnixTime(job.created_unix_s()), Truncate(job.message(), 60));
  }
}

absl::StatusOr<int> RunList(const ListFlags& flags) {
  constexpr int64_t kMaxPageSize = 1000;  // the server's cap
  v1::ListJobsRequest request;
  if (!flags.state.empty()) {
    QUENCH_ASSIGN_OR_RETURN(const v1::JobState state, ParseState(flags.state));
    request.set_state(state);
  }
  QUENCH_ASSIGN_OR_RETURN(auto stub, MakeJobServiceStub(flags.connection));
  const auto limit = static_cast<size_t>(flags.limit);  // 0: every job
  std::vector<v1::Job> jobs;
  do {
    const int64_t wanted = limit == 0 ? kMaxPageSize : static_cast<int64_t>(limit - jobs.size());
    request.set_page_size(static_cast<int32_t>(std::min(wanted, kMaxPageSize)));
    QUENCH_ASSIGN_OR_RETURN(
        v1::ListJobsResponse page,
        CallJobService(*stub, flags.connection, &v1::JobService::Stub::ListJobs, request));
    for (v1::Job& job : *page.mutable_jobs()) {
      if (limit != 0 && jobs.size() >= limit) break;
      jobs.push_back(std::move(job));
    }
    // An empty page with a token would otherwise loop forever.
    if (page.jobs().empty()) break;
    request.set_page_token(page.next_page_token());
  } while (!request.page_token().empty() && (limit == 0 || jobs.size() < limit));

  if (flags.json) {
    nlohmann::ordered_json out;
    out["jobs"] = nlohmann::ordered_json::array();
    for (const v1::Job& job : jobs) out["jobs"].push_back(JobJson(job, /*with_report=*/false));
    std::cout << out.dump(2) << "\n";
  } else if (jobs.empty()) {
    std::cout << "no jobs\n";
  } else {
    PrintJobTable(jobs);
  }
  return static_cast<int>(ExitCode::kOk);
}

// ---- cancel ----

absl::StatusOr<int> RunCancel(const JobFlags& flags) {
  QUENCH_ASSIGN_OR_RETURN(auto stub, MakeJobServiceStub(flags.connection));
  v1::CancelJobRequest request;
  request.set_job_id(flags.job_id);
  QUENCH_ASSIGN_OR_RETURN(
      const v1::CancelJobResponse response,
      CallJobService(*stub, flags.connection, &v1::JobService::Stub::CancelJob, request));
  const v1::Job& job = response.job();
  if (flags.json) {
    std::cout << JobJson(job, /*with_report=*/false).dump(2) << "\n";
  } else if (job.state() == v1::JOB_STATE_CANCELLED) {
    std::cout << "job " << job.job_id() << " CANCELLED\n";
  } else if (IsTerminal(job.state())) {
    std::cout << "job " << job.job_id() << " had already ended: " << StateName(job.state()) << "\n";
  } else {
    // A running job stops at its next cancellation check.
    std::cout << "job " << job.job_id() << " " << StateName(job.state()) << ", cancelling\n";
  }
  // The cancellation was asked for and done: success, whatever state it left.
  return static_cast<int>(ExitCode::kOk);
}

// ---- download ----

struct DownloadFlags : CommonFlags {
  std::string job_id;
  std::string out;
  std::string name;
};

absl::StatusOr<int> RunDownload(const DownloadFlags& flags) {
  QUENCH_ASSIGN_OR_RETURN(auto stub, MakeJobServiceStub(flags.connection));
  QUENCH_ASSIGN_OR_RETURN(const v1::Job job, GetJob(*stub, flags.connection, flags.job_id));
  QUENCH_ASSIGN_OR_RETURN(
      const std::vector<DownloadedArtifact> downloaded,
      DownloadJobArtifacts(*stub, flags.connection, job, flags.out, flags.name,
                           !flags.json && StderrIsTerminal(), flags.json ? std::cerr : std::cout));
  if (flags.json) {
    nlohmann::ordered_json out;
    out["job_id"] = job.job_id();
    out["out"] = flags.out;
    out["artifacts"] = nlohmann::ordered_json::array();
    for (const DownloadedArtifact& artifact : downloaded) {
      out["artifacts"].push_back({{"name", artifact.name},
                                  {"size_bytes", artifact.size_bytes},
                                  {"sha256", artifact.sha256},
                                  {"path", artifact.path.string()},
                                  {"already_downloaded", artifact.already_present},
                                  {"resumed_from", artifact.resumed_from}});
    }
    std::cout << out.dump(2) << "\n";
  }
  return static_cast<int>(ExitCode::kOk);
}

}  // namespace

void RegisterSubmitCommand(CLI::App& app, int& exit_code) {
  auto flags = std::make_shared<SubmitFlags>();
  CLI::App* cmd = AddServiceCommand(
      app, "submit", "Submit a quantization job to quenchd",
      "Prints the job id. --wait then follows the job to its end as `quench watch` does; --out "
      "(which implies --wait) also downloads its artifacts there once it SUCCEEDED. With --json "
      "the last line of stdout is one JSON object: job_id, state, message, created, artifacts, "
      "out (when downloaded), report (when the job has one); events and progress go to stderr.\n\n"
      "--model, --calib and --eval are paths as quenchd sees them: under one of its "
      "--model-root directories (a relative path is looked up under each root).\n\n"
      "Retries: without --request-id every run makes a new random id, so running the same "
      "command again submits a new job. Give --request-id to make a retry safe: the same id with "
      "the same request returns the job already submitted.\n\n"
      "Example:\n  quench submit --model stories260K --preset gptq-w4g32 \\\n"
      "    --calib data/stories260K-calib.jsonl --out /tmp/q",
      *flags);
  cmd->add_option("--model", flags->model, "Model directory under a quenchd model root")
      ->required();
  auto* recipe = cmd->add_option("--recipe", flags->recipe,
                                 "Recipe file (YAML or JSON; see `quench recipe`), sent as text");
  auto* preset =
      cmd->add_option("--preset", flags->preset, "A built-in recipe (`quench recipe list`)");
  recipe->excludes(preset);
  cmd->add_option("--calib", flags->calib, "Calibration data; overrides the recipe's");
  cmd->add_option("--eval", flags->eval, "Evaluation data; overrides the recipe's");
  cmd->add_option("--shards", flags->shards, "Calibration shards; overrides the recipe's")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--request-id", flags->request_id,
                  "Idempotency key: resubmitting with the same id returns the same job "
                  "(default: a new random id per run)");
  cmd->add_flag("--wait", flags->wait, "Follow the job until it ends; exit with its outcome");
  cmd->add_option("--out", flags->out,
                  "Download the artifacts into this directory once the job SUCCEEDED (implies "
                  "--wait)");
  cmd->add_flag("--json", flags->json, "End with one JSON object on stdout");
  cmd->callback([flags, &exit_code, recipe, preset] {
    if (recipe->count() == 0 && preset->count() == 0) {
      throw CLI::ValidationError("submit", "give --recipe FILE or --preset NAME");
    }
    SubmitOutcome outcome;
    const absl::StatusOr<int> result = RunSubmit(*flags, outcome);
    exit_code = Conclude("submit", result);
    // After any error message, so that the object is the last line of the output.
    if (flags->json && outcome.job) {
      std::cout << SubmitJson(*flags, outcome, result.status()).dump() << "\n";
    }
  });
}

void RegisterWatchCommand(CLI::App& app, int& exit_code) {
  auto flags = std::make_shared<WatchFlags>();
  CLI::App* cmd = AddServiceCommand(
      app, "watch", "Follow a job until it ends",
      "Prints a line per event (state changes, finished blocks with their layers' relative "
      "errors) and, on a terminal, a progress bar on stderr. With --json, one JSON object per "
      "event per line: job_id, state, message, progress, finished_blocks, total_blocks, eta_s, "
      "layers. The exit code is the job's outcome. A connection lost midway is reopened a few "
      "times (quenchd keeps the job across a restart).",
      *flags);
  cmd->add_option("job", flags->job_id, "Job id")->required();
  cmd->add_flag("--json", flags->json, "One JSON object per event per line");
  cmd->callback([flags, &exit_code] { exit_code = Conclude("watch", RunWatch(*flags)); });
}

void RegisterStatusCommand(CLI::App& app, int& exit_code) {
  auto flags = std::make_shared<JobFlags>();
  CLI::App* cmd = AddServiceCommand(
      app, "status", "Show a job: state, progress, artifacts, evaluation results",
      "The exit code follows the job: 0 while it is QUEUED or RUNNING and once it SUCCEEDED, 3 "
      "when it FAILED, 4 when it was CANCELLED.",
      *flags);
  cmd->add_option("job", flags->job_id, "Job id")->required();
  cmd->add_flag("--json", flags->json, "The job as JSON, report included");
  cmd->callback([flags, &exit_code] { exit_code = Conclude("status", RunStatus(*flags)); });
}

void RegisterListCommand(CLI::App& app, int& exit_code) {
  auto flags = std::make_shared<ListFlags>();
  CLI::App* cmd = AddServiceCommand(app, "list", "List jobs, newest first",
                                    "Example:\n  quench list --state running", *flags);
  cmd->add_option("--state", flags->state,
                  "Only jobs in this state: queued, running, succeeded, failed, cancelled");
  cmd->add_option("--limit", flags->limit, "At most this many jobs (0: all)")
      ->check(CLI::Range(0, 1000000))
      ->capture_default_str();
  cmd->add_flag("--json", flags->json, "{\"jobs\": [...]} as JSON");
  cmd->callback([flags, &exit_code] { exit_code = Conclude("list", RunList(*flags)); });
}

void RegisterCancelCommand(CLI::App& app, int& exit_code) {
  auto flags = std::make_shared<JobFlags>();
  CLI::App* cmd = AddServiceCommand(
      app, "cancel", "Cancel a queued or running job",
      "A running job stops at its next check (between layers); `quench watch` shows when it has.",
      *flags);
  cmd->add_option("job", flags->job_id, "Job id")->required();
  cmd->add_flag("--json", flags->json, "The job as JSON");
  cmd->callback([flags, &exit_code] { exit_code = Conclude("cancel", RunCancel(*flags)); });
}

void RegisterDownloadCommand(CLI::App& app, int& exit_code) {
  auto flags = std::make_shared<DownloadFlags>();
  CLI::App* cmd = AddServiceCommand(
      app, "download", "Download a finished job's artifacts",
      "Writes each artifact to DIR/NAME (\"gptq/model.safetensors\" makes DIR/gptq/). Bytes "
      "arrive in NAME.part, each chunk checked against its CRC-32C; an interrupted download "
      "resumes from the .part file when run again. The whole file must match quenchd's sha256 "
      "before it takes its name; a file already in place with the right size and sha256 is "
      "skipped. The job must have SUCCEEDED.",
      *flags);
  cmd->add_option("job", flags->job_id, "Job id")->required();
  cmd->add_option("--out", flags->out, "Output directory (created if needed)")->required();
  cmd->add_option("--name", flags->name, "Only this artifact (e.g. model.gguf)");
  cmd->add_flag("--json", flags->json, "What was downloaded, as JSON; no progress");
  cmd->callback([flags, &exit_code] { exit_code = Conclude("download", RunDownload(*flags)); });
}

}  // namespace quench::cli
