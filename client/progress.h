// Progress of long work on stderr: a redrawn bar with rate and ETA on a terminal, plain lines
// (one per step) otherwise, nothing with --json.
#pragma once

#include <chrono>
#include <cstdint>
#include <ostream>
#include <string>

#include "core/util/format_bytes.h"  // FormatBytes, for the callers of this header

namespace quench::cli {

class ProgressReporter {
 public:
  // `unit` names what is counted ("blocks", "sequences"); "bytes" shows sizes as KiB/MiB/GiB.
  ProgressReporter(std::string task, std::string unit, bool enabled);

  // `done` of `total` finished; `detail` says what runs now.
  void Update(int64_t done, int64_t total, const std::string& detail);
  // As above with an ETA the caller knows better (a server's estimate; negative: unknown), for
  // work that began before this reporter did: the local rate would be meaningless.
  void Update(int64_t done, int64_t total, const std::string& detail, double eta_s);
  // Writes `line` to `out` above the bar and redraws the bar under it.
  void PrintLine(std::ostream& out, const std::string& line);
  // Ends the bar's line on a terminal.
  void Finish();  // ends the bar's line; later calls do nothing

 private:
  std::string Counts(int64_t done, int64_t total) const;
  void Draw(int64_t done, int64_t total, const std::string& rate_and_eta,
            const std::string& detail);

  std::string task_;
  std::string unit_;
  bool enabled_;
  bool terminal_;
  int64_t last_done_ = -1;
  bool finished_ = false;
  std::string bar_;  // the bar as last drawn on a terminal, for PrintLine to redraw
  std::chrono::steady_clock::time_point start_;
};

}  // namespace quench::cli
