// Progress of long work on stderr: a redrawn bar with rate and ETA on a terminal, plain lines
// (one per step) otherwise, nothing with --json.
#pragma once

#include <chrono>
#include <string>

namespace quench::cli {

class ProgressReporter {
 public:
  // `unit` names what is counted ("blocks", "sequences").
  ProgressReporter(std::string task, std::string unit, bool enabled);

  // `done` of `total` finished; `detail` says what runs now.
  void Update(int64_t done, int64_t total, const std::string& detail);
  // Ends the bar's line on a terminal.
  void Finish();  // ends the bar's line; later calls do nothing

 private:
  std::string task_;
  std::string unit_;
  bool enabled_;
  bool terminal_;
  int64_t last_done_ = -1;
  bool finished_ = false;
  std::chrono::steady_clock::time_point start_;
};

}  // namespace quench::cli
