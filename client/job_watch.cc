#include "client/job_watch.h"

#include <chrono>
#include <iostream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "client/job_format.h"
#include "core/util/status_macros.h"

namespace quench::cli {
namespace {

// Consecutive broken streams before giving up; waits of 1, 2, 4, ... seconds between them
// cover a coordinator restart.
constexpr int kMaxReconnects = 6;

}  // namespace

absl::StatusOr<v1::Job> WatchUntilDone(
    v1::JobService::Stub& stub, const ServiceConnection& connection, const std::string& job_id,
    const std::function<void(const v1::WatchJobResponse&)>& on_event,
    const std::function<void(const std::string&)>& on_notice) {
  v1::WatchJobRequest request;
  request.set_job_id(job_id);
  bool ever_received = false;  // quenchd knew the job: reconnecting is worth it
  int failures = 0;
  for (;;) {
    grpc::ClientContext context;
    // No deadline: a job runs for as long as it runs.
    QUENCH_RETURN_IF_ERROR(PrepareContext(connection, context, std::nullopt));
    std::unique_ptr<grpc::ClientReader<v1::WatchJobResponse>> reader =
        stub.WatchJob(&context, request);
    v1::WatchJobResponse event;
    int received = 0;
    std::optional<v1::Job> terminal;
    while (reader->Read(&event)) {
      ever_received = true;
      // The first event only restates the job; a second one means the stream works.
      if (++received > 1) failures = 0;
      on_event(event);
      // The last terminal state seen wins, whatever order a replayed history comes in.
      if (IsTerminal(event.job().state())) terminal = event.job();
    }
    const grpc::Status status = reader->Finish();
    if (status.ok() && terminal) return *terminal;

    // An OK end before the terminal state is a coordinator going away, like UNAVAILABLE; so is
    // CANCELLED, which this client never asks for (a server shutting down cancels its calls).
    const bool broken = status.ok() || status.error_code() == grpc::StatusCode::UNAVAILABLE ||
                        status.error_code() == grpc::StatusCode::CANCELLED;
    if (!broken || !ever_received || failures >= kMaxReconnects) {
      if (!status.ok()) return FromGrpcStatus(status, connection);
      return absl::UnavailableError(absl::StrCat("quenchd at ", connection.server,
                                                 " ended the watch of job ", job_id,
                                                 " before the job ended"));
    }
    const int wait_s = 1 << failures;
    ++failures;
    on_notice(absl::StrFormat("lost the watch of job %s (%s); reconnecting in %ds", job_id,
                              status.ok() ? "stream ended" : status.error_message(), wait_s));
    std::this_thread::sleep_for(std::chrono::seconds(wait_s));
  }
}

WatchPrinter::WatchPrinter(std::ostream& out, bool json, bool bar)
    : out_(out), json_(json), progress_("job", "blocks", bar && !json) {}

void WatchPrinter::OnEvent(const v1::WatchJobResponse& event) {
  // A replayed event (after a reconnection) is byte-identical to the one shown before.
  if (!shown_.insert(event.SerializeAsString()).second) return;
  const v1::Job& job = event.job();
  if (json_) {
    out_ << EventJson(event).dump() << "\n" << std::flush;
    return;
  }
  const bool state_changed = job.state() != last_state_;
  last_state_ = job.state();
  const std::string& message = event.message().empty() ? job.message() : event.message();
  if (!event.message().empty() || state_changed) {
    progress_.PrintLine(out_, absl::StrFormat("%-9s %s", StateName(job.state()), message));
  }
  if (!event.layers().empty()) progress_.PrintLine(out_, "  " + LayerErrorsLine(event));
  if (job.total_blocks() > 0 && !IsTerminal(job.state())) {
    progress_.Update(job.finished_blocks(), job.total_blocks(), StateName(job.state()),
                     event.eta_s());
  }
}

void WatchPrinter::Notice(const std::string& line) { progress_.PrintLine(std::cerr, line); }

void WatchPrinter::Finish(const v1::Job& job) {
  progress_.Finish();
  if (json_) return;
  std::string line = absl::StrCat("job ", job.job_id(), " ", StateName(job.state()));
  if (job.state() != v1::JOB_STATE_SUCCEEDED && !job.message().empty()) {
    absl::StrAppend(&line, ": ", job.message());
  }
  out_ << line << "\n" << std::flush;
}

}  // namespace quench::cli
