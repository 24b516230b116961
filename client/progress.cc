#include "client/progress.h"

#include <unistd.h>

#include <cstdio>

#include "absl/strings/str_format.h"

namespace quench::cli {

ProgressReporter::ProgressReporter(std::string task, std::string unit, bool enabled)
    : task_(std::move(task)),
      unit_(std::move(unit)),
      enabled_(enabled),
      terminal_(::isatty(STDERR_FILENO) != 0),
      start_(std::chrono::steady_clock::now()) {}

void ProgressReporter::Update(int64_t done, int64_t total, const std::string& detail) {
  if (!enabled_) return;
  const double elapsed =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  const double rate = elapsed > 0 ? done / elapsed : 0.0;
  const double eta = rate > 0 ? (total - done) / rate : 0.0;
  if (terminal_) {
    constexpr int kWidth = 24;
    const int filled = total > 0 ? static_cast<int>(kWidth * done / total) : 0;
    std::string bar(filled, '#');
    bar.resize(kWidth, '.');
    std::string line = absl::StrFormat("\r%s [%s] %d/%d %s  %.2f %s/s  ETA %.0fs  %s", task_, bar,
                                       done, total, unit_, rate, unit_, eta, detail);
    if (line.size() > 160) line.resize(160);
    std::fprintf(stderr, "%s\033[K", line.c_str());
    std::fflush(stderr);
  } else if (done != last_done_) {
    // One line per finished step: logs stay readable.
    std::fprintf(stderr, "%s: %lld/%lld %s done (%.1fs elapsed, ETA %.0fs)\n", task_.c_str(),
                 static_cast<long long>(done), static_cast<long long>(total), unit_.c_str(),
                 elapsed, eta);
  }
  last_done_ = done;
}

void ProgressReporter::Finish() {
  if (finished_) return;
  finished_ = true;
  if (enabled_ && terminal_) std::fprintf(stderr, "\n");
}

}  // namespace quench::cli
