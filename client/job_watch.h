// Following a job to its end through WatchJob, and showing its events: JSON lines, or a line
// per event (with a progress bar on a terminal).
#pragma once

#include <functional>
#include <ostream>
#include <set>
#include <string>

#include "absl/status/statusor.h"
#include "client/progress.h"
#include "client/service_client.h"

namespace quench::cli {

// Streams the job's events into `on_event` until it reaches a terminal state, and returns the
// job as that last event has it. A stream that breaks (UNAVAILABLE, or an end before the
// terminal state) after it delivered events is opened again a few times: the job lives on in
// quenchd's store across a restart. `on_notice` hears about those reconnections.
absl::StatusOr<v1::Job> WatchUntilDone(
    v1::JobService::Stub& stub, const ServiceConnection& connection, const std::string& job_id,
    const std::function<void(const v1::WatchJobResponse&)>& on_event,
    const std::function<void(const std::string&)>& on_notice);

class WatchPrinter {
 public:
  // `json`: one EventJson object per line on `out`. Otherwise one line per event on `out`,
  // with a block progress bar on stderr when `bar` (a terminal, and stdout free for JSON).
  WatchPrinter(std::ostream& out, bool json, bool bar);
  // Ends the bar when the watch failed, so the error starts on its own line.
  ~WatchPrinter() { progress_.Finish(); }
  WatchPrinter(const WatchPrinter&) = delete;
  WatchPrinter& operator=(const WatchPrinter&) = delete;

  void OnEvent(const v1::WatchJobResponse& event);
  // A line about the watch itself (reconnecting), on stderr.
  void Notice(const std::string& line);
  // Ends the bar and, for people, says how the job ended.
  void Finish(const v1::Job& job);

 private:
  std::ostream& out_;
  bool json_;
  ProgressReporter progress_;
  // Events shown already (serialized): WatchJob replays a job's history to each new stream.
  std::set<std::string> shown_;
  v1::JobState last_state_ = v1::JOB_STATE_UNSPECIFIED;
};

}  // namespace quench::cli
