#include "client/progress.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>

#include "absl/strings/str_format.h"

namespace quench::cli {

ProgressReporter::ProgressReporter(std::string task, std::string unit, bool enabled)
    : task_(std::move(task)),
      unit_(std::move(unit)),
      enabled_(enabled),
      terminal_(::isatty(STDERR_FILENO) != 0),
      start_(std::chrono::steady_clock::now()) {}

std::string ProgressReporter::Counts(int64_t done, int64_t total) const {
  if (unit_ == "bytes") return absl::StrFormat("%s/%s", FormatBytes(done), FormatBytes(total));
  return absl::StrFormat("%d/%d %s", done, total, unit_);
}

void ProgressReporter::Update(int64_t done, int64_t total, const std::string& detail) {
  if (!enabled_) return;
  const double elapsed =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  const double rate = elapsed > 0 ? done / elapsed : 0.0;
  const double eta = rate > 0 ? (total - done) / rate : 0.0;
  if (terminal_) {
    const std::string rate_text = unit_ == "bytes" ? absl::StrFormat("%s/s", FormatBytes(rate))
                                                   : absl::StrFormat("%.2f %s/s", rate, unit_);
    Draw(done, total, absl::StrFormat("%s  ETA %.0fs", rate_text, eta), detail);
  } else if (done != last_done_) {
    // One line per finished step: logs stay readable.
    std::fprintf(stderr, "%s: %s done (%.1fs elapsed, ETA %.0fs)\n", task_.c_str(),
                 Counts(done, total).c_str(), elapsed, eta);
  }
  last_done_ = done;
}

void ProgressReporter::Update(int64_t done, int64_t total, const std::string& detail,
                              double eta_s) {
  if (!enabled_) return;
  const std::string eta = eta_s < 0 ? "ETA ?" : absl::StrFormat("ETA %.0fs", eta_s);
  if (terminal_) {
    Draw(done, total, eta, detail);
  } else if (done != last_done_) {
    std::fprintf(stderr, "%s: %s done (%s)\n", task_.c_str(), Counts(done, total).c_str(),
                 eta.c_str());
  }
  last_done_ = done;
}

void ProgressReporter::Draw(int64_t done, int64_t total, const std::string& rate_and_eta,
                            const std::string& detail) {
  constexpr int kWidth = 24;
  const int filled = total > 0 ? static_cast<int>(kWidth * std::min(done, total) / total) : 0;
  std::string bar(filled, '#');
  bar.resize(kWidth, '.');
  bar_ =
      absl::StrFormat("%s [%s] %s  %s  %s", task_, bar, Counts(done, total), rate_and_eta, detail);
  if (bar_.size() > 160) bar_.resize(160);
  std::fprintf(stderr, "\r%s\033[K", bar_.c_str());
  std::fflush(stderr);
}

void ProgressReporter::PrintLine(std::ostream& out, const std::string& line) {
  const bool redraw = enabled_ && terminal_ && !finished_ && !bar_.empty();
  if (redraw) {
    std::fprintf(stderr, "\r\033[K");
    std::fflush(stderr);
  }
  out << line << "\n" << std::flush;
  if (redraw) {
    std::fprintf(stderr, "%s", bar_.c_str());
    std::fflush(stderr);
  }
}

void ProgressReporter::Finish() {
  if (finished_) return;
  finished_ = true;
  if (enabled_ && terminal_ && !bar_.empty()) std::fprintf(stderr, "\n");
}

}  // namespace quench::cli
